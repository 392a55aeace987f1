r"""Labelled text files: CSV, TSV and JSON Lines.

Files are read whole into memory with the standard library (`csv`, `json`),
which suits the small-to-medium files fine-tuning data comes in, and lets
every problem be reported with its line number before any training starts.
Nothing is silently dropped: an empty text or label cell, a row with the
wrong number of fields, or a label missing from the training file is an
error, with the first few offending line numbers. Only fully blank lines
(no characters, e.g. a trailing newline) are not rows.

Formats:

Files are UTF-8, with or without a byte-order mark; lines may end in
`\n` or `\r\n`.

- `csv:PATH`: comma-separated, first row is the header, double-quote
  quoting (`csv` module defaults; fields may contain commas, quotes and
  newlines).
- `tsv:PATH`: tab-separated, first row is the header, no quoting (the usual
  TSV convention, e.g. GLUE): a field cannot contain a tab or newline, and
  quote characters are kept as they are.
- `jsonl:PATH`: one JSON object per line; the columns are its keys.

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

import csv
import dataclasses
import decimal
import difflib
import io
import json
import os
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

FILE_FORMATS = ("csv", "tsv", "jsonl")
# An integer label: ASCII digits only (`\d` would accept e.g. Arabic-Indic ones).
_INT = re.compile(r"[+-]?[0-9]+")
#: Label cells that mean "no value" in the tools that write such files
#: (pandas, R, SQL dumps, Python's str(None)); refused, not made a class.
MISSING_LABELS = ("NaN", "nan", "NA", "N/A", "n/a", "null", "NULL", "None", "<NA>", "#N/A")
# How many offending line numbers a message lists.
_SHOWN = 5


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


def parse_file_spec(spec, default_format=None):
    """Splits a file spec into its format and path.

    Args:
        spec: `"csv:PATH"`, `"tsv:PATH"` or `"jsonl:PATH"`; or a bare path
            when `default_format` is given.
        default_format: the format of a bare path, or None to require a
            prefix.

    Returns:
        `(format, path)`, or None when `spec` is not a file spec.

    Example:

    >>> parse_file_spec("tsv:data/train.tsv")
    ('tsv', 'data/train.tsv')
    >>> parse_file_spec("val.csv", default_format="csv")
    ('csv', 'val.csv')
    """
    prefix, sep, path = spec.partition(":")
    if sep and prefix in FILE_FORMATS:
        if not path:
            raise DataError(
                f"The dataset spec {spec!r} has no path after '{prefix}:'; write it as "
                f"'{prefix}:PATH', e.g. '{prefix}:data/train.{prefix}'."
            )
        return prefix, path
    if sep and len(prefix) > 1 and prefix.isalnum():
        # Looks like another kind of spec ("tfds:...", "json:..."), not a
        # path; a one-letter prefix is a Windows drive ("C:\\data.csv").
        if default_format is not None:
            raise DataError(
                f"{spec!r} is not a file spec: validation= and test= take a file in one "
                f"of the forms {', '.join(f + ':PATH' for f in FILE_FORMATS)}, or a bare "
                f"path read as {default_format.upper()} like the training file."
            )
        return None
    if default_format is not None:
        if not spec.strip():
            raise DataError(
                f"The file spec {spec!r} is empty: validation= and test= take a file in one "
                f"of the forms {', '.join(f + ':PATH' for f in FILE_FORMATS)}, or a bare "
                f"path read as {default_format.upper()} like the training file."
            )
        return default_format, spec
    return None


def _format_lines(lines):
    shown = ", ".join(str(n) for n in lines[:_SHOWN])
    more = f" and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _read_text(path, fmt):
    """Returns the file's text, checking it exists and is UTF-8."""
    if os.path.isdir(path):
        inside = sorted(
            name for name in os.listdir(path) if name.lower().endswith(f".{fmt}")
        )[:_SHOWN]
        hint = f" ({fmt} files in it: {', '.join(inside)})" if inside else ""
        raise DataError(
            f"{path!r} is a directory, not a file{hint}. A '{fmt}:' spec must name a "
            f"single {fmt.upper()} file, e.g. '{fmt}:{os.path.join(path, 'train.' + fmt)}'."
        )
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        hint = ""
        if os.path.isdir(parent):
            close = difflib.get_close_matches(os.path.basename(path), os.listdir(parent), n=1)
            if close:
                hint = f" Did you mean {os.path.join(os.path.dirname(path), close[0])!r}?"
        raise DataError(
            f"No such file: {path!r} (absolute path {os.path.abspath(path)!r}).{hint} "
            f"A '{fmt}:' spec must name an existing {fmt.upper()} file; relative paths "
            f"are relative to the current directory ({os.getcwd()!r})."
        )
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"Cannot read {path!r}: {e.strerror or e}.") from e
    try:
        # utf-8-sig: accept (and drop) the byte-order mark Excel writes.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path!r} is not valid UTF-8: byte 0x{data[e.start]:02X} at byte offset "
            f"{e.start} (line {line}) cannot be decoded ({e.reason}). Text files must "
            "be UTF-8 encoded; re-save the file as UTF-8 (for example from Latin-1 "
            "with `iconv -f latin1 -t utf-8`)."
        ) from None


def _parse_delimited(text, path, fmt):
    """Returns `(columns, [(line, values), ...])` of a CSV/TSV file."""
    if fmt == "tsv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, rows, bad_width = None, [], []
    line = 1
    try:
        for values in reader:
            start, line = line, reader.line_num + 1
            if not values:
                continue  # A blank line is not a row.
            if header is None:
                header = values
            elif len(values) != len(header):
                bad_width.append((start, len(values)))
            else:
                rows.append((start, values))
    except csv.Error as e:
        hint = _format_hint(fmt, path, header or [])
        raise DataError(
            f"{path!r} is not a well-formed {fmt.upper()} file: {e} (around line "
            f"{reader.line_num}). "
            + (
                hint
                or "In CSV, a field containing commas, quotes or newlines must be "
                'enclosed in double quotes, with inner quotes doubled ("").'
            )
        ) from None
    if header is None:
        raise DataError(
            f"{path!r} is empty: it has no header row and no examples. A {fmt.upper()} "
            "dataset needs a header row naming the columns, then one row per example."
        )
    hint = _format_hint(fmt, path, header)
    if bad_width and hint:
        raise DataError(
            f"{path!r} is not a {fmt.upper()} file: its header row reads as the single "
            f"column {header[0]!r}. {hint}"
        )
    if bad_width:
        detail = "; ".join(f"line {n} has {k}" for n, k in bad_width[:_SHOWN])
        raise DataError(
            f"{path!r} has {len(bad_width)} row(s) whose number of fields differs from "
            f"the header's {len(header)} ({', '.join(map(repr, header))}): {detail}. "
            + (
                "TSV fields are not quoted, so a text must not contain a tab or newline."
                if fmt == "tsv"
                else "Quote fields that contain commas or newlines."
            )
        )
    return header, rows


def _parse_jsonl(text, path):
    """Returns `(columns, [(line, record), ...])` of a JSON Lines file."""
    records = []
    # Split on "\n" only: str.splitlines also splits on characters such as
    # U+2028 that JSON allows raw inside strings.
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.strip()
        if not raw:
            continue  # A blank line is not a row.
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{path!r} line {number} is not valid JSON ({e.msg} at column {e.colno}). "
                "A JSON Lines file holds exactly one JSON object per line, e.g. "
                '{"text": "a fine film", "label": 1}.'
            ) from None
        except (ValueError, RecursionError) as e:
            # Valid JSON that Python refuses: an integer of more than 4,300
            # digits, or nesting deeper than the recursion limit.
            raise DataError(
                f"{path!r} line {number} cannot be read as JSON ({e}). A JSON Lines "
                'file holds one flat JSON object per line, e.g. {"text": "a fine film", '
                '"label": 1}.'
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{path!r} line {number} holds a JSON {type(record).__name__}, not an "
                'object. Each line must be one JSON object, e.g. {"text": "a fine film", '
                '"label": 1}.'
            )
        records.append((number, record))
    if not records:
        raise DataError(
            f"{path!r} is empty: it has no JSON lines. A JSON Lines dataset has one "
            'object per line, e.g. {"text": "a fine film", "label": 1}.'
        )
    return list(records[0][1]), records


def _missing_column(path, role, name, columns, fmt):
    format_hint = _format_hint(fmt, path, columns) if fmt != "jsonl" else ""
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.5) or [
        c for c in columns if c.lower() == name.lower()
    ]
    if format_hint:
        hint = " " + format_hint
    elif close:
        hint = f" Did you mean {close[0]!r}? Pass {role}={close[0]!r}."
    else:
        hint = ""
    raise DataError(
        f"Column {name!r} ({role}) not found in {path!r}. Columns present: "
        f"{', '.join(map(repr, columns))}.{hint} Choose the columns with text_column=, "
        "label_column= and, for sentence pairs, text_pair_column=."
    )


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


def _format_hint(fmt, path, header):
    """A sentence naming the right spec when `header` shows another format, else ""."""
    joined = "".join(header)
    if header and header[0].lstrip().startswith("{"):
        return f"The file looks like JSON Lines; read it with 'jsonl:{path}'."
    if fmt != "tsv" and len(header) == 1 and "\t" in joined:
        return f"The file looks tab-separated; read it with 'tsv:{path}'."
    if fmt != "csv" and len(header) == 1 and "," in joined:
        return f"The file looks comma-separated; read it with 'csv:{path}'."
    return ""


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
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("text,label\\ngood,pos\\nbad,neg\\n")
    >>> read_file("csv", path).labels
    ['pos', 'neg']
    """
    text = _read_text(path, fmt)
    if fmt == "jsonl":
        columns, records = _parse_jsonl(text, path)
    else:
        columns, rows = _parse_delimited(text, path, fmt)
    wanted = [("text_column", text_column), ("label_column", label_column)]
    if text_pair_column is not None:
        wanted.append(("text_pair_column", text_pair_column))
    for role, name in wanted:
        if name not in columns:
            _missing_column(path, role, name, columns, fmt)
    if fmt == "jsonl":
        for role, name in wanted:
            missing = [n for n, record in records if name not in record]
            if missing:
                raise DataError(
                    f"{path!r}: the key {name!r} ({role}) is missing on "
                    f"{_format_lines(missing)}. Every JSON object must have it "
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
                f"values on {_format_lines(bad)}. Quote the texts as JSON strings."
            )
        if len(empty) == len(records):
            raise DataError(
                f"{path!r} contains no text: the {role} {name!r} is empty on every one of "
                f"its {len(records)} rows. Check that {role}={name!r} names the column "
                f"holding the texts (columns: {', '.join(map(repr, columns))})."
            )
        if empty:
            raise DataError(
                f"{path!r}: the {role} {name!r} is empty on {_format_lines(empty)} "
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
        detail = "; ".join(f"line {n}: {what}" for n, what in bad[:_SHOWN])
        raise DataError(
            f"{path!r}: labels in {label_column!r} must be strings, JSON integers or "
            f"booleans ({detail}). Use class names such as 'positive' or integer ids "
            "such as 0 and 1; a number with a decimal point (1.0) is refused because its "
            "text is lost in parsing, so 1.0 and 1 could not be told apart."
        )
    if empty:
        raise DataError(
            f"{path!r}: the label column {label_column!r} is empty on "
            f"{_format_lines(empty)} ({len(empty)} of {len(records)} rows). Every "
            "example needs a label: fill in or delete those rows."
        )
    if missing:
        found = sorted({label for _, label in missing})
        raise DataError(
            f"{path!r}: the label column {label_column!r} holds the missing-value "
            f"marker(s) {', '.join(map(repr, found))} on "
            f"{_format_lines([n for n, _ in missing])} ({len(missing)} of {len(records)} "
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
            f"{label!r} on {_format_lines(lines)}" for label, lines in list(unseen.items())[:_SHOWN]
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
