"""`ListSplits`: a data set held as Python lists, split into train, validation and test.

The question-answering (`QAData`) and sequence-to-sequence (`Seq2SeqData`)
data sets are small lists of examples rather than `tf.data` pipelines; they
share this container and differ only in what an example is. Importing this
module loads neither Keras nor TensorFlow.
"""

import dataclasses

__all__ = ["ListSplits"]


@dataclasses.dataclass
class ListSplits:
    """Examples of a data set, as lists, split into train, validation and test.

    Attributes:
        name: the dataset spec it was loaded from.
        train, validation: lists of examples.
        test: a list of examples, or None (no test split).
    """

    name: str
    train: list
    validation: list
    test: list | None = None

    @property
    def num_examples(self):
        """Dict split name -> number of examples (`"test"` only where there is one).

        Example:

        >>> from keras_adapters.data.list_splits import ListSplits
        >>> ListSplits("toy", ["a", "b", "c"], ["d"]).num_examples
        {'train': 3, 'validation': 1}
        """
        sizes = {"train": len(self.train), "validation": len(self.validation)}
        if self.test is not None:
            sizes["test"] = len(self.test)
        return sizes
