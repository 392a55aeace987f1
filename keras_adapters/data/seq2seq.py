"""Sequence-to-sequence data (summarisation, translation): (source, target) pairs.

`load_seq2seq_dataset(spec)` reads:

- `"aclsum"`: the ACLSum summaries that ship in the PyPI package
  `aclsum==0.1.2` (`keras_adapters.data.aclsum`), with its own
  train / validation / test split;
- `"jsonl:PATH"`: a JSON Lines file, one object per line with a `"source"`
  and a `"target"` string (e.g. `{"source": "Guten Morgen", "target": "Good
  morning"}`); a seeded 10% of it becomes the validation split, and
  `test_spec` may name a second file for the test split.
"""

import dataclasses

import numpy as np

from keras_adapters.data.aclsum import aclsum_pairs
from keras_adapters.data.errors import DataError
from keras_adapters.data.file_formats import read_rows
from keras_adapters.data.list_splits import ListSplits

__all__ = ["SEQ2SEQ_DATASET_HELP", "Seq2SeqData", "load_seq2seq_dataset", "read_pairs_file"]

SEQ2SEQ_DATASET_HELP = (
    "A sequence-to-sequence dataset is 'aclsum' (ACLSum summaries, from the PyPI package "
    "aclsum==0.1.2) or 'jsonl:PATH' (one JSON object per line with 'source' and 'target' strings)."
)


@dataclasses.dataclass
class Seq2SeqData(ListSplits):
    """(source, target) string pairs split into train, validation and test.

    Attributes:
        name: the spec it was loaded from.
        train, validation: lists of `(source, target)`.
        test: a list of `(source, target)`, or None.
        num_examples: dict split -> number of pairs (a property).
    """


def read_pairs_file(spec):
    """Reads the `(source, target)` pairs of a `jsonl:PATH` file.

    Args:
        spec: `"jsonl:PATH"`.

    Returns:
        A list of `(source, target)` strings, in file order.

    Raises:
        DataError: for another spec, a missing or malformed file, or a line
            without string `source` and `target` fields (naming the line).

    Example:

    >>> import json, os, tempfile
    >>> from keras_adapters.data.seq2seq import read_pairs_file
    >>> path = os.path.join(tempfile.mkdtemp(), "pairs.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write(json.dumps({"source": "Guten Morgen", "target": "Good morning"}) + "\\n")
    >>> read_pairs_file("jsonl:" + path)
    [('Guten Morgen', 'Good morning')]
    """
    fmt, _, path = spec.partition(":")
    if fmt != "jsonl" or not path:
        raise DataError(f"Sequence-to-sequence dataset {spec!r} is not supported. {SEQ2SEQ_DATASET_HELP}")
    _, rows = read_rows(path, "jsonl")
    pairs = []
    for line, record in rows:
        values = [record.get(field) for field in ("source", "target")]
        if not all(isinstance(value, str) and value.strip() for value in values):
            raise DataError(
                f"{path!r} line {line} needs non-empty string fields 'source' and 'target'; got "
                f"{sorted(record)}. {SEQ2SEQ_DATASET_HELP}"
            )
        pairs.append(tuple(values))
    return pairs


def load_seq2seq_dataset(spec, *, test_spec=None, validation_fraction=0.1, max_train_examples=None,
                         seed=0):
    """Loads a sequence-to-sequence dataset (see the module docstring).

    Args:
        spec: `"aclsum"` or `"jsonl:PATH"`.
        test_spec: for a file: a second `"jsonl:PATH"` with the test pairs.
        validation_fraction: for a file: the share held out for validation.
        max_train_examples: keep a seeded subset of at most this many
            training pairs (None: all).
        seed: seed of the validation split and the training subset.

    Returns:
        A `Seq2SeqData`.

    Raises:
        DataError: for an unknown spec, a bad file, a fraction outside
            (0, 1), or a file too small to hold out a validation pair.

    Example:

    >>> from keras_adapters.data.seq2seq import load_seq2seq_dataset
    >>> load_seq2seq_dataset("aclsum", max_train_examples=30).num_examples
    {'train': 30, 'validation': 150, 'test': 300}
    """
    rng = np.random.default_rng(seed)
    if spec == "aclsum":
        if test_spec is not None:
            raise DataError("'aclsum' has its own test split; give test data only with a jsonl file.")
        data = Seq2SeqData(spec, aclsum_pairs("train"), aclsum_pairs("validation"), aclsum_pairs("test"))
    else:
        if not 0 < validation_fraction < 1:
            raise DataError(f"validation_fraction must be in (0, 1); got {validation_fraction!r}.")
        pairs = read_pairs_file(spec)
        held_out = int(round(len(pairs) * validation_fraction))
        if held_out < 1 or held_out >= len(pairs):
            raise DataError(f"{spec!r} has {len(pairs)} pair(s): too few to hold out a "
                            f"{validation_fraction:.0%} validation split and keep training pairs.")
        order = rng.permutation(len(pairs))
        data = Seq2SeqData(
            spec,
            [pairs[i] for i in sorted(order[held_out:])],
            [pairs[i] for i in sorted(order[:held_out])],
            read_pairs_file(test_spec) if test_spec is not None else None,
        )
    if max_train_examples is not None and max_train_examples < len(data.train):
        if max_train_examples < 1:
            raise DataError(f"max_train_examples must be at least 1; got {max_train_examples!r}.")
        keep = sorted(rng.permutation(len(data.train))[:max_train_examples])
        data.train = [data.train[i] for i in keep]
    return data
