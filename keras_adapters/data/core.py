"""The dataset container and the helpers every loader shares."""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from keras_adapters.data.errors import DataError


@dataclasses.dataclass
class TextClassificationData:
    """A text-classification dataset as `tf.data` pipelines.

    Every split yields unbatched examples `(text, label)`: `text` a scalar
    `tf.string`, `label` a scalar `tf.int32` index into `label_names`. For
    sentence-pair tasks (`text_pair=True`) an example is
    `((text_a, text_b), label)`. The pipelines are deterministic and not
    shuffled or batched: shuffle, batch and preprocess them for training.

    Attributes:
        name: the dataset spec, e.g. `"rotten_tomatoes"` or
            `"csv:/path/x.csv"`.
        train: the training split.
        validation: the validation split.
        test: the test split, or None when there is none.
        label_names: class names; `label_names[i]` is the name of label `i`.
        num_examples: the number of examples of each split, by split name
            (`"train"`, `"validation"` and, when present, `"test"`).
        text_pair: whether examples are sentence pairs.
    """

    name: str
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset | None
    label_names: list[str]
    num_examples: dict[str, int]
    text_pair: bool

    @property
    def num_classes(self):
        """The number of classes, `len(label_names)`."""
        return len(self.label_names)


def to_tf_dataset(texts, labels, pairs=None):
    """Returns an unbatched `tf.data.Dataset` of in-memory examples.

    Args:
        texts: list of str.
        labels: sequence of int label indices.
        pairs: optional list of str, the second text of each example.

    Returns:
        A dataset of `(text, label)`, or `((text, pair), label)` when `pairs`
        is given; text `tf.string`, label `tf.int32`, both scalars.
    """
    texts = tf.constant(list(texts), dtype=tf.string, shape=[len(texts)])
    labels = tf.constant(np.asarray(labels, dtype=np.int32), shape=[len(texts)])
    if pairs is None:
        return tf.data.Dataset.from_tensor_slices((texts, labels))
    pairs = tf.constant(list(pairs), dtype=tf.string, shape=[len(pairs)])
    return tf.data.Dataset.from_tensor_slices(((texts, pairs), labels))


def check_validation_fraction(fraction):
    """Raises DataError unless `0 < fraction < 1`."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
        0 < fraction < 1
    ):
        raise DataError(
            f"validation_fraction must be a number strictly between 0 and 1 (the "
            f"share of the training examples held out for validation), got "
            f"{fraction!r}; for example validation_fraction=0.1."
        )


def check_max_examples(max_examples):
    """Raises DataError unless `max_examples` is None or a positive int."""
    if max_examples is None:
        return
    if isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer)) or (
        max_examples < 1
    ):
        raise DataError(
            f"max_examples must be None (use the whole training split) or a positive "
            f"integer (keep that many training examples), got {max_examples!r}."
        )


def stratified_split(labels, fraction, seed):
    """Splits example indices into train and validation, per class.

    The validation part has `round(len(labels) * fraction)` examples (at
    least one), shared among classes in proportion to their size (largest
    remainders get the leftover places), and every class keeps at least one
    training example. Which examples of a class go to validation is drawn
    with `numpy.random.default_rng(seed)`, so the split depends only on the
    labels, `fraction` and `seed`.

    Args:
        labels: sequence of int label indices.
        fraction: float in (0, 1).
        seed: int.

    Returns:
        `(train_indices, validation_indices)`, two sorted int arrays.

    Raises:
        DataError: if no class has two examples, so nothing can be held out.

    Example:

    >>> from keras_adapters.data.core import stratified_split
    >>> train, val = stratified_split([0, 0, 0, 0, 1, 1, 1, 1, 1, 1], 0.2, seed=0)
    >>> len(train), len(val)
    (8, 2)
    >>> sorted(int(i) >= 4 for i in val)  # one example of each class
    [False, True]
    """
    labels = np.asarray(labels)
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    target = max(1, math.floor(n * fraction + 0.5))
    quotas = counts * target / n
    taken = np.minimum(np.floor(quotas).astype(int), counts - 1)
    # Hand out the leftover places by largest remainder (ties: class order),
    # never taking a class's last example.
    remainders = quotas - np.floor(quotas)
    by_remainder = sorted(range(len(classes)), key=lambda c: (-remainders[c], c))
    while taken.sum() < target:
        progressed = False
        for c in by_remainder:
            if taken.sum() < target and taken[c] < counts[c] - 1:
                taken[c] += 1
                progressed = True
        if not progressed:
            break
    if taken.sum() == 0:
        raise DataError(
            f"Cannot carve a validation split out of {n} training examples: every "
            "class has a single example, and each class must keep at least one for "
            "training. Add more examples, or pass a separate validation file with "
            "validation=."
        )
    rng = np.random.default_rng(seed)
    chosen = [
        rng.permutation(np.flatnonzero(labels == cls))[:k] for cls, k in zip(classes, taken)
    ]
    validation = np.sort(np.concatenate(chosen))
    train = np.setdiff1d(np.arange(n), validation)
    return train, validation


def seeded_subset(n, max_examples, seed):
    """Returns sorted indices of `min(n, max_examples)` items drawn with `seed`.

    The first `max_examples` of a seeded permutation, back in their original
    order: a cap that does not pick only the first class of a sorted file.
    """
    if max_examples is None or max_examples >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:max_examples])
