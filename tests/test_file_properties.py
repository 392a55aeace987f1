"""Property-based tests of the CSV, TSV and JSON Lines readers (Hypothesis).

Files are written with Python's own `csv` and `json` writers, with byte-order
marks, CRLF line ends, quoting, embedded delimiters and newlines and odd
labels. The reader must return exactly the rows written, when the rules of
`keras_adapters.data.files` accept them, and raise `DataError` otherwise:
never another exception, never other rows.
"""

import csv
import io
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_adapters.data import DataError, load_dataset
from keras_adapters.data.file_formats import parse_file_spec
from keras_adapters.data.files import MISSING_LABELS, read_file

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Characters that stress the formats, mixed into arbitrary Unicode text.
SPECIAL = [",", '"', "'", "\t", "\n", "\r", " ", "\ufeff", "\u2028", "\x85", "\x00", "{", "}", "\\"]
CHARACTERS = st.one_of(
    st.sampled_from(SPECIAL),
    st.characters(exclude_categories=("Cs",)),  # no lone surrogates: not UTF-8
)
TEXTS = st.text(CHARACTERS, max_size=12)
NONBLANK_TEXTS = TEXTS.filter(str.strip)
INTEGER_LABEL = re.compile(r"[+-]?[0-9]+")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Label families: each table draws one, so that most tables are valid and
# the rest probe empty cells, missing-value markers and mixed kinds.
WORD_LABELS = st.one_of(
    st.sampled_from(["pos", "neg", "Pos", " pos ", "a,b", 'say "hi"', "x\ny", "none", "NaN?"]),
    NONBLANK_TEXTS.filter(
        lambda t: not INTEGER_LABEL.fullmatch(t.strip()) and t.strip() not in MISSING_LABELS
    ),
)
INTEGER_LABELS = st.sampled_from(["0", "1", "01", "+1", "-3", " 1 ", "007"])
ODD_LABELS = st.one_of(
    st.sampled_from(["", " ", "pos", "0", "01", *MISSING_LABELS]), WORD_LABELS, TEXTS
)
LABEL_FAMILIES = {"words": WORD_LABELS, "integers": INTEGER_LABELS, "odd": ODD_LABELS}


def _expected_labels(labels):
    """The labels `read_file` must return, or None when it must refuse them."""
    if any(label is None or isinstance(label, float) for label in labels):
        return None
    texts = []
    for label in labels:
        if isinstance(label, bool):
            label = "true" if label else "false"
        texts.append(str(label).strip())
    if any(not label or label in MISSING_LABELS for label in texts):
        return None
    integers = [bool(INTEGER_LABEL.fullmatch(label)) for label in texts]
    if any(integers) and not all(integers):
        return None
    return texts


def _expected(rows):
    """`(texts, labels)` that must be read back, or None for a DataError."""
    if not rows or any(not text.strip() for text, _ in rows):
        return None
    labels = _expected_labels([label for _, label in rows])
    return None if labels is None else ([text for text, _ in rows], labels)


def _check(read, expected, lines, strict=True):
    """Asserts `read()` returns the expected rows, or raises DataError."""
    try:
        examples = read()
    except DataError:
        assert expected is None or not strict, "a valid file was refused"
        return
    assert expected is not None, "an invalid file was accepted"
    assert (examples.texts, examples.labels) == expected
    assert examples.lines == lines


def _write(path, content, bom):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(("\ufeff" if bom else "") + content)


@st.composite
def tables(draw, forbidden=""):
    """Rows of (text, label) and an extra column, cells free of `forbidden`."""
    def allowed(value):
        return not any(c in value for c in forbidden)

    family = draw(st.sampled_from(sorted(LABEL_FAMILIES)))
    texts = (TEXTS if family == "odd" else NONBLANK_TEXTS).filter(allowed)
    labels = LABEL_FAMILIES[family].filter(allowed)
    rows = draw(st.lists(st.tuples(texts, labels, TEXTS.filter(allowed)), max_size=6))
    order = draw(st.permutations(["text", "label", "extra"]))
    return rows, order


@SETTINGS
@given(
    table=tables(),
    line_end=st.sampled_from(["\r\n", "\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    bom=st.booleans(),
    blank_lines=st.booleans(),
)
def test_csv_reads_back_what_the_csv_module_wrote(tmp_path, table, line_end, quoting, bom, blank_lines):
    rows, order = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end, quoting=quoting)
    writer.writerow(order)
    lines = []
    for text, label, extra in rows:
        lines.append(len(LINE_BREAK.findall(out.getvalue())) + 1)
        cells = {"text": text, "label": label, "extra": extra}
        writer.writerow([cells[name] for name in order])
    content = out.getvalue() + (line_end * 2 if blank_lines else "")
    path = str(tmp_path / "data.csv")
    _write(path, content, bom)
    # The csv module does not quote a lone "\r" when the line end is "\n":
    # such a file is malformed (a reader ends the line there), so it may be
    # refused; it must still never be misread.
    unquoted_cr = line_end == "\n" and quoting != csv.QUOTE_ALL and "\r" in content
    expected = _expected([(text, label) for text, label, _ in rows])
    _check(lambda: read_file("csv", path), expected, lines, strict=not unquoted_cr)


@SETTINGS
@given(
    table=tables(forbidden="\t\r\n"),
    line_end=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
)
def test_tsv_reads_back_tab_joined_rows(tmp_path, table, line_end, bom):
    rows, order = table
    content = "\t".join(order) + line_end
    lines = []
    for text, label, extra in rows:
        lines.append(content.count("\n") + 1)
        cells = {"text": text, "label": label, "extra": extra}
        content += "\t".join(cells[name] for name in order) + line_end
    path = str(tmp_path / "data.tsv")
    _write(path, content, bom)
    # TSV is not quoted: quote characters are part of the text.
    _check(lambda: read_file("tsv", path), _expected([(t, label) for t, label, _ in rows]), lines)


JSON_LABEL_FAMILIES = {
    "words": st.one_of(WORD_LABELS, st.booleans()),
    "integers": st.one_of(INTEGER_LABELS, st.integers(-20, 20)),
    "odd": st.one_of(
        ODD_LABELS, st.integers(), st.booleans(), st.none(),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
    ),
}


@st.composite
def json_rows(draw):
    family = draw(st.sampled_from(sorted(JSON_LABEL_FAMILIES)))
    texts = TEXTS if family == "odd" else NONBLANK_TEXTS
    return draw(st.lists(st.tuples(texts, JSON_LABEL_FAMILIES[family], TEXTS), max_size=6))


@SETTINGS
@given(
    rows=json_rows(),
    line_end=st.sampled_from(["\r\n", "\n"]),
    ensure_ascii=st.booleans(),
    bom=st.booleans(),
    blank_lines=st.booleans(),
)
def test_jsonl_reads_back_what_the_json_module_wrote(tmp_path, rows, line_end, ensure_ascii, bom,
                                                     blank_lines):
    content, lines = "", []
    for text, label, extra in rows:
        lines.append(content.count("\n") + 1)
        record = {"text": text, "extra": extra, "label": label}
        content += json.dumps(record, ensure_ascii=ensure_ascii) + line_end
        if blank_lines:
            content += line_end
    path = str(tmp_path / "data.jsonl")
    _write(path, content, bom)
    _check(lambda: read_file("jsonl", path), _expected([(t, label) for t, label, _ in rows]), lines)


@st.composite
def labelled_rows(draw):
    """Valid rows: two or three classes of one family, each at least twice."""
    family = draw(st.sampled_from([WORD_LABELS, INTEGER_LABELS]))
    classes = draw(st.lists(family, min_size=2, max_size=3, unique_by=str.strip))
    rows = [
        (draw(NONBLANK_TEXTS), label)
        for label in classes
        for _ in range(draw(st.integers(2, 3)))
    ]
    return draw(st.permutations(rows))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=labelled_rows(), fmt=st.sampled_from(["csv", "tsv", "jsonl"]))
def test_load_dataset_file_specs_keep_every_row_and_label(tmp_path, rows, fmt):
    path = str(tmp_path / f"train.{fmt}")
    if fmt == "jsonl":
        content = "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows)
    elif fmt == "tsv":  # TSV cells cannot hold tabs or line breaks
        rows = [tuple(re.sub(r"[\t\r\n]", "_", cell) for cell in row) for row in rows]
        content = "".join("\t".join(row) + "\n" for row in [("text", "label"), *rows])
    else:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
        content = out.getvalue()
    _write(path, content, bom=fmt == "csv")
    data = load_dataset(f"{fmt}:{path}", validation_fraction=0.4)
    examples = [
        (text.decode(), data.label_names[int(label)])
        for split in (data.train, data.validation)
        for text, label in split.as_numpy_iterator()
    ]
    assert sorted(examples) == sorted((t, label.strip()) for t, label in rows)
    assert sorted(data.label_names) == sorted({label.strip() for _, label in rows})


@SETTINGS
@given(spec=st.lists(st.one_of(st.sampled_from([":", "csv", "tsv", "jsonl", "tfds", "/", "C"]),
                               st.characters(exclude_categories=("Cs",))), max_size=8).map("".join),
       default=st.sampled_from([None, "csv", "tsv", "jsonl"]))
def test_parse_file_spec_returns_a_file_spec_none_or_a_data_error(spec, default):
    try:
        parsed = parse_file_spec(spec, default_format=default)
    except DataError:
        return
    if parsed is not None:
        fmt, path = parsed
        assert fmt in ("csv", "tsv", "jsonl") and path
        assert spec in (path, f"{fmt}:{path}")


@SETTINGS
@given(content=st.binary(max_size=64), fmt=st.sampled_from(["csv", "tsv", "jsonl"]))
def test_arbitrary_bytes_give_rows_or_a_data_error(tmp_path, content, fmt):
    path = str(tmp_path / f"junk.{fmt}")
    with open(path, "wb") as f:
        f.write(b"text,label\n" if fmt == "csv" else b"")
        f.write(content)
    try:
        examples = read_file(fmt, path)
    except DataError:
        return
    assert len(examples.texts) == len(examples.labels) == len(examples.lines)
    assert all(isinstance(label, str) and label == label.strip() for label in examples.labels)


def test_a_bom_is_dropped_only_at_the_start(tmp_path):
    # A byte-order mark inside a field is text, not an encoding marker.
    path = str(tmp_path / "bom.csv")
    _write(path, "text,label\r\n\ufeffa,pos\r\nb,neg\r\n", bom=True)
    assert read_file("csv", path).texts == ["\ufeffa", "b"]
