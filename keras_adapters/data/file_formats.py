r"""The file formats of labelled text: CSV, TSV and JSON Lines, read into rows.

Files are read whole into memory with the standard library (`csv`, `json`),
which suits the small-to-medium files fine-tuning data comes in, and lets
every problem be reported with its line number before any training starts.
Only fully blank lines (no characters, e.g. a trailing newline) are not rows.
What the rows must hold (texts, labels) is checked by
`keras_adapters.data.files.read_file`.

Files are UTF-8, with or without a byte-order mark; lines may end in
`\n` or `\r\n`.

- `csv:PATH`: comma-separated, first row is the header, double-quote
  quoting (`csv` module defaults; fields may contain commas, quotes and
  newlines).
- `tsv:PATH`: tab-separated, first row is the header, no quoting (the usual
  TSV convention, e.g. GLUE): a field cannot contain a tab or newline, and
  quote characters are kept as they are.
- `jsonl:PATH`: one JSON object per line; the columns are its keys.
"""

import csv
import difflib
import io
import json
import os

from keras_adapters.data.errors import DataError

__all__ = ["FILE_FORMATS", "parse_file_spec", "read_rows"]

FILE_FORMATS = ("csv", "tsv", "jsonl")
# How many offending line numbers a message lists.
SHOWN = 5


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

    >>> from keras_adapters.data.file_formats import parse_file_spec
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


def format_lines(lines):
    shown = ", ".join(str(n) for n in lines[:SHOWN])
    more = f" and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _read_text(path, fmt):
    """Returns the file's text, checking it exists and is UTF-8."""
    if os.path.isdir(path):
        inside = sorted(
            name for name in os.listdir(path) if name.lower().endswith(f".{fmt}")
        )[:SHOWN]
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
        hint = format_hint(fmt, path, header or [])
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
    hint = format_hint(fmt, path, header)
    if bad_width and hint:
        raise DataError(
            f"{path!r} is not a {fmt.upper()} file: its header row reads as the single "
            f"column {header[0]!r}. {hint}"
        )
    if bad_width:
        detail = "; ".join(f"line {n} has {k}" for n, k in bad_width[:SHOWN])
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


def read_rows(path, fmt):
    """Reads a file's columns and rows.

    Args:
        path: the file.
        fmt: one of `FILE_FORMATS`.

    Returns:
        `(columns, rows)`: for CSV/TSV each row is `(line, values)`, a list of
        cells in column order; for JSON Lines `(line, record)`, a dict.

    Raises:
        DataError: for a missing, unreadable, non-UTF-8 or malformed file,
            naming the line.

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.data.file_formats import read_rows
    >>> path = os.path.join(tempfile.mkdtemp(), "train.tsv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("text\\tlabel\\nfine\\t1\\n")
    >>> read_rows(path, "tsv")
    (['text', 'label'], [(2, ['fine', '1'])])
    """
    text = _read_text(path, fmt)
    if fmt == "jsonl":
        return _parse_jsonl(text, path)
    return _parse_delimited(text, path, fmt)


def missing_column_error(path, role, name, columns, fmt):
    """The DataError for a column `name` absent from `columns`, with a hint."""
    other_format = format_hint(fmt, path, columns) if fmt != "jsonl" else ""
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.5) or [
        c for c in columns if c.lower() == name.lower()
    ]
    if other_format:
        hint = " " + other_format
    elif close:
        hint = f" Did you mean {close[0]!r}? Pass {role}={close[0]!r}."
    else:
        hint = ""
    return DataError(
        f"Column {name!r} ({role}) not found in {path!r}. Columns present: "
        f"{', '.join(map(repr, columns))}.{hint} Choose the columns with text_column=, "
        "label_column= and, for sentence pairs, text_pair_column=."
    )


def format_hint(fmt, path, header):
    """A sentence naming the right spec when `header` shows another format, else ""."""
    joined = "".join(header)
    if header and header[0].lstrip().startswith("{"):
        return f"The file looks like JSON Lines; read it with 'jsonl:{path}'."
    if fmt != "tsv" and len(header) == 1 and "\t" in joined:
        return f"The file looks tab-separated; read it with 'tsv:{path}'."
    if fmt != "csv" and len(header) == 1 and "," in joined:
        return f"The file looks comma-separated; read it with 'csv:{path}'."
    return ""
