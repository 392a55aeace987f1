r"""Labelled text files: CSV, TSV and JSON Lines.

Files are read whole into memory with the standard library (`csv`, `json`),
which suits the small-to-medium files fine-tuning data comes in, and lets
every problem be reported with its line number before any training starts.
Nothing is silently dropped: an empty text or label cell, a row with the
wrong number of fields, or a label missing from the training file is an
error, with the first few offending line numbers. Only fully blank lines
(no characters, e.g. a trailing newline) are not rows.

Texts are kept exactly as written (surrounding spaces included); a text
that is empty or only whitespace is an error.

Labels are strings, compared exactly after removing surrounding
whitespace: `"1"`, `"01"` and `"+1"` are three different classes, as are
`"pos"` and `"Pos"`. In JSON Lines, a label may be a JSON string, integer
or boolean; an integer or boolean is read as its JSON text (`1` is the
label `"1"`, the same class as the string `"1"`; `true` is `"true"`). A
JSON number with a decimal point or exponent (`1.0`, `1e0`) is refused:
its text is not kept by the parser, so `1.0` and `1` could not be told
apart. An empty label and the missing-value markers `MISSING_LABELS`
(what pandas, R, SQL and Python write for "no value": `NaN`, `nan`, `NA`,
`N/A`, `n/a`, `null`, `NULL`, `None`, `<NA>`, `#N/A`; compared exactly) are
errors naming the lines. A column must not mix integer labels
(`[+-]?[0-9]+`) with other strings.

The label names are the distinct training labels, sorted: numerically
(ties in text order) when every label is an integer, else in text order;
label `i` is `label_names[i]`, so integer labels `0..K-1` keep their
values.
"""

import dataclasses
import decimal
import re

import numpy as np

from keras_adapters.data.core import (
    TextClassificationData,
    check_max_examples,
    check_validation_fraction,
    seeded_subset,
    stratified_split,
    to_tf_dataset,
)
from keras_adapters.data.errors import DataError
from keras_adapters.data.file_formats import (
    SHOWN,
    format_lines,
    missing_column_error,
    parse_file_spec,
    read_rows,
)

# An integer label: ASCII digits only (`\d` would accept e.g. Arabic-Indic ones).
_INT = re.compile(r"[+-]?[0-9]+")
#: Label cells that mean "no value" in the tools that write such files
#: (pandas, R, SQL dumps, Python's str(None)); refused, not made a class.
MISSING_LABELS = ("NaN", "nan", "NA", "N/A", "n/a", "null", "NULL", "None", "<NA>", "#N/A")


@dataclasses.dataclass
class FileExamples:
    """Examples read from one file, with their line numbers.

    Attributes:
        path: the file read.
        texts: the text of each example.
        pairs: the second text of each example, or None.
        labels: the label of each example (str, surrounding whitespace
            removed).
        lines: the (first) line number of each example in the file.
    """

    path: str
    texts: list
    pairs: list | None
    labels: list
    lines: list


def _normalise_label(value):
    """Returns the label as a stripped str, or None if empty; raises TypeError.

    JSON integers and booleans become their JSON text; other JSON values
    (floats, lists, objects) raise TypeError with a description.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise TypeError(f"the number {value!r}")
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    raise TypeError(f"a JSON {type(value).__name__}")


def _label_sort_key(label):
    # Decimal, not int: int() refuses strings of more than 4,300 digits.
    return (decimal.Decimal(label), label)


def read_file(fmt, path, text_column="text", label_column="label", text_pair_column=None):
    """Reads and checks the labelled examples of one file.

    Args:
        fmt: `"csv"`, `"tsv"` or `"jsonl"`.
        path: the file path.
        text_column: name of the text column.
        label_column: name of the label column.
        text_pair_column: name of the second text column, or None.

    Returns:
        A `FileExamples`.

    Raises:
        DataError: the file is missing, a directory, not UTF-8 or malformed
            (or looks like another format); a column is missing; a text or
            label cell is empty; a label is a missing-value marker
            (`MISSING_LABELS`) or a JSON float; or the labels mix integers
            and other strings.

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.data.files import read_file
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("text,label\\ngood,pos\\nbad,neg\\n")
    >>> read_file("csv", path).labels
    ['pos', 'neg']
    """
    columns, rows = read_rows(path, fmt)
    # JSON Lines rows are `(line, record)` already; CSV/TSV rows become records below.
    records = rows if fmt == "jsonl" else None
    wanted = [("text_column", text_column), ("label_column", label_column)]
    if text_pair_column is not None:
        wanted.append(("text_pair_column", text_pair_column))
    for role, name in wanted:
        if name not in columns:
            raise missing_column_error(path, role, name, columns, fmt)
    if fmt == "jsonl":
        for role, name in wanted:
            missing = [n for n, record in records if name not in record]
            if missing:
                raise DataError(
                    f"{path!r}: the key {name!r} ({role}) is missing on "
                    f"{format_lines(missing)}. Every JSON object must have it "
                    "(use an empty string only if that is really the value)."
                )
    else:
        if len(set(columns)) != len(columns):
            used = {name for _, name in wanted}
            duplicated = sorted({c for c in columns if columns.count(c) > 1 and c in used})
            if duplicated:
                raise DataError(
                    f"{path!r}: the header names column(s) {', '.join(map(repr, duplicated))} "
                    "more than once, so it is ambiguous which to read. Rename the "
                    "duplicates so every column name is unique."
                )
        index = {name: columns.index(name) for _, name in wanted}
        records = [(n, {name: values[i] for name, i in index.items()}) for n, values in rows]
    if not records:
        raise DataError(
            f"{path!r} has a header but no examples. Add one row per example below "
            "the header."
        )

    def column(name, role):
        values, bad, empty = [], [], []
        for n, record in records:
            value = record[name]
            if value is None:
                value = ""
            if not isinstance(value, str):
                bad.append(n)
            elif not value.strip():
                empty.append(n)
            values.append(value)
        if bad:
            raise DataError(
                f"{path!r}: the {role} {name!r} must hold strings, but holds other JSON "
                f"values on {format_lines(bad)}. Quote the texts as JSON strings."
            )
        if len(empty) == len(records):
            raise DataError(
                f"{path!r} contains no text: the {role} {name!r} is empty on every one of "
                f"its {len(records)} rows. Check that {role}={name!r} names the column "
                f"holding the texts (columns: {', '.join(map(repr, columns))})."
            )
        if empty:
            raise DataError(
                f"{path!r}: the {role} {name!r} is empty on {format_lines(empty)} "
                f"({len(empty)} of {len(records)} rows). Every example needs a non-empty "
                "text: fill in or delete those rows (nothing is skipped silently)."
            )
        return values

    texts = column(text_column, "text_column")
    pairs = column(text_pair_column, "text_pair_column") if text_pair_column else None

    labels, empty, bad, missing = [], [], [], []
    for n, record in records:
        try:
            label = _normalise_label(record[label_column])
        except TypeError as e:
            bad.append((n, str(e)))
            continue
        if label is None:
            empty.append(n)
        elif label in MISSING_LABELS:
            missing.append((n, label))
        labels.append(label)
    if bad:
        detail = "; ".join(f"line {n}: {what}" for n, what in bad[:SHOWN])
        raise DataError(
            f"{path!r}: labels in {label_column!r} must be strings, JSON integers or "
            f"booleans ({detail}). Use class names such as 'positive' or integer ids "
            "such as 0 and 1; a number with a decimal point (1.0) is refused because its "
            "text is lost in parsing, so 1.0 and 1 could not be told apart."
        )
    if empty:
        raise DataError(
            f"{path!r}: the label column {label_column!r} is empty on "
            f"{format_lines(empty)} ({len(empty)} of {len(records)} rows). Every "
            "example needs a label: fill in or delete those rows."
        )
    if missing:
        found = sorted({label for _, label in missing})
        raise DataError(
            f"{path!r}: the label column {label_column!r} holds the missing-value "
            f"marker(s) {', '.join(map(repr, found))} on "
            f"{format_lines([n for n, _ in missing])} ({len(missing)} of {len(records)} "
            f"rows). {', '.join(MISSING_LABELS)} mean 'no value' in the tools that write "
            "them, so they are not used as classes: fill in the real labels or delete "
            "those rows (if one is a real class, rename it, e.g. 'not_applicable')."
        )
    ints = [i for i, label in enumerate(labels) if _INT.fullmatch(label)]
    if 0 < len(ints) < len(labels):
        first_int = ints[0]
        first_str = next(i for i, label in enumerate(labels) if not _INT.fullmatch(label))
        raise DataError(
            f"{path!r}: the label column {label_column!r} mixes integer labels (e.g. "
            f"{labels[first_int]!r} on line {records[first_int][0]}) with non-integer "
            f"strings (e.g. {labels[first_str]!r} on line {records[first_str][0]}). A "
            "label column must hold either integer ids or class names, not both."
        )
    return FileExamples(
        path=path, texts=texts, pairs=pairs, labels=labels, lines=[n for n, _ in records]
    )


def _encode(examples, index, role, train_path):
    unseen = {}
    for label, line in zip(examples.labels, examples.lines):
        if label not in index:
            unseen.setdefault(label, []).append(line)
    if unseen:
        detail = "; ".join(
            f"{label!r} on {format_lines(lines)}" for label, lines in list(unseen.items())[:SHOWN]
        )
        raise DataError(
            f"The {role} file {examples.path!r} has labels that do not occur in the "
            f"training file {train_path!r}: {detail}. The label names come from the "
            f"training labels ({', '.join(repr(k) for k in index)}), so every {role} "
            "label must be one of them. Labels are compared exactly as text (after "
            "removing surrounding spaces): check spelling, case and leading zeros or "
            "signs ('01' and '+1' are not '1')."
        )
    return np.array([index[label] for label in examples.labels], dtype=np.int32)


def _subset(values, indices):
    return None if values is None else [values[i] for i in indices]


def load_file_dataset(
    name,
    fmt,
    path,
    *,
    text_column="text",
    label_column="label",
    text_pair_column=None,
    validation=None,
    test=None,
    validation_fraction=0.1,
    seed=0,
    max_examples=None,
):
    """Loads a text-classification dataset from CSV, TSV or JSONL files.

    Args:
        name: the dataset name to record (the spec).
        fmt: the training file's format.
        path: the training file.
        text_column, label_column, text_pair_column: column names, shared by
            all files.
        validation: a file spec (`"csv:val.csv"`, or a bare path in `fmt`),
            or None to carve a stratified validation split of
            `validation_fraction` out of the training file with `seed`.
        test: a file spec, or None for no test split.
        validation_fraction: share of the training file held out when
            `validation` is None.
        seed: seed of the carved split and of the `max_examples` draw.
        max_examples: keep this many training examples (the first of a
            seeded shuffle, kept in file order), or None.

    Returns:
        A `TextClassificationData`.

    Raises:
        DataError: for any problem with the files or arguments.
    """
    check_validation_fraction(validation_fraction)
    check_max_examples(max_examples)
    if text_pair_column is not None and text_pair_column == text_column:
        raise DataError(
            f"text_column and text_pair_column are both {text_column!r}; for sentence "
            "pairs, name two different columns (e.g. text_column='premise', "
            "text_pair_column='hypothesis')."
        )
    train = read_file(fmt, path, text_column, label_column, text_pair_column)
    if all(_INT.fullmatch(label) for label in train.labels):
        vocabulary = sorted(set(train.labels), key=_label_sort_key)
    else:
        vocabulary = sorted(set(train.labels))
    if len(vocabulary) < 2:
        raise DataError(
            f"The training file {path!r} has a single class: every one of its "
            f"{len(train.labels)} rows has label {vocabulary[0]!r} in column "
            f"{label_column!r}. Classification needs at least two classes; check "
            "that label_column names the right column."
        )
    index = {label: i for i, label in enumerate(vocabulary)}
    train_ids = _encode(train, index, "training", path)

    def other(spec, role):
        parsed = parse_file_spec(spec, default_format=fmt)
        examples = read_file(*parsed, text_column, label_column, text_pair_column)
        return examples, _encode(examples, index, role, path)

    if validation is not None:
        val, val_ids = other(validation, "validation")
        val_texts, val_pairs = val.texts, val.pairs
        train_idx = np.arange(len(train_ids))
    else:
        train_idx, val_idx = stratified_split(train_ids, validation_fraction, seed)
        val_texts, val_pairs = _subset(train.texts, val_idx), _subset(train.pairs, val_idx)
        val_ids = train_ids[val_idx]
    train_idx = train_idx[seeded_subset(len(train_idx), max_examples, seed)]

    splits = {
        "train": to_tf_dataset(
            _subset(train.texts, train_idx), train_ids[train_idx], _subset(train.pairs, train_idx)
        ),
        "validation": to_tf_dataset(val_texts, val_ids, val_pairs),
    }
    num_examples = {"train": len(train_idx), "validation": len(val_ids)}
    if test is not None:
        test_examples, test_ids = other(test, "test")
        splits["test"] = to_tf_dataset(test_examples.texts, test_ids, test_examples.pairs)
        num_examples["test"] = len(test_ids)
    return TextClassificationData(
        name=name,
        train=splits["train"],
        validation=splits["validation"],
        test=splits.get("test"),
        label_names=list(vocabulary),
        num_examples=num_examples,
        text_pair=text_pair_column is not None,
    )
