"""Which examples `keras-adapters evaluate` scores: one split of a data set, or all of them.

Shared by every task's `evaluate` (text classification, question answering,
seq2seq). Importing this module loads neither Keras nor TensorFlow.
"""

import functools

from keras_adapters.cli.console import fail

__all__ = ["examples_to_score"]


def examples_to_score(data, split, spec, join, trained_without_test=False):
    """The examples of `split` of `data` (every split for `"all"`), and what they are.

    Args:
        data: a task's splits: `train`, `validation` and `test` (None where
            there is none) and `num_examples` (split name -> size).
        split: `"train"`, `"validation"`, `"test"` or `"all"`.
        spec: the dataset spec, named in the description and errors.
        join: joins two splits' examples (`operator.add` for lists,
            `tf.data.Dataset.concatenate` for datasets).
        trained_without_test: the data is the run's own and the run was
            trained without `--test-data` (said when the test split is missing).

    Returns:
        `(examples, description)`; the description ends "Scored N ...: ".

    Raises:
        SystemExit: through `fail`, for a split the data set does not have,
            naming the splits it has.
    """
    sizes = ", ".join(f"{name} {count:,}" for name, count in data.num_examples.items())
    if split == "all":
        parts = [part for part in (data.train, data.validation, data.test) if part is not None]
        return functools.reduce(join, parts), f"every split of {spec} ({sizes})"
    examples = getattr(data, split)
    if examples is None:
        why = "; the run was trained without --test-data" if trained_without_test else ""
        fail(f"Dataset {spec!r} has no {split} split (it has {sizes}{why}). Choose "
             f"--split {' or --split '.join(data.num_examples)} or --split all, or give a file "
             "with --dataset.")
    return examples, f"the {split} split of {spec} ({sizes}; --split all scores every example)"
