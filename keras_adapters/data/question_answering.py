"""Extractive question-answering data: examples, files and splits.

An example is a context, a question and its gold answers, each answer a
text with its character start in the context (SQuAD's convention). Two file
forms are read:

- `jsonl:PATH`: one JSON object per line with `context`, `question` and
  `answers`, either SQuAD/Hugging Face style
  `{"text": ["Paris"], "answer_start": [31]}` or a list
  `[{"text": "Paris", "answer_start": 31}]`; an optional `id`. An empty
  answer list marks an unanswerable question (SQuAD 2.0).
- `squad:PATH`: a SQuAD v1.1/v2.0 JSON file
  (`{"data": [{"paragraphs": [{"context": ..., "qas": [...]}]}]}`).

Every answer is checked against its context (the text must be found at its
start), so a misaligned file fails while loading, naming the line or
question, rather than training on wrong spans.

No question-answering data set installs offline here (see
docs/howto/question-answering.md), so the data come from such a file.
"""

import dataclasses
import json

import numpy as np

from keras_adapters.data.core import seeded_subset
from keras_adapters.data.errors import DataError
from keras_adapters.data.file_formats import read_rows
from keras_adapters.data.list_splits import ListSplits

__all__ = ["QAData", "QAExample", "load_qa_dataset", "read_qa_file"]

QA_FORMATS = ("jsonl", "squad")
QA_DATASET_HELP = (
    "For --task question-answering: 'jsonl:PATH' (one object per line with context, question "
    "and answers {text: [...], answer_start: [...]}) or 'squad:PATH' (a SQuAD v1.1/v2.0 JSON file)."
)


@dataclasses.dataclass(frozen=True)
class QAExample:
    """One question about one context.

    Attributes:
        context: the passage the answer is taken from.
        question: the question.
        answers: gold answer texts (empty: unanswerable).
        answer_starts: the character start of each answer in `context`.
        id: an identifier (the file's `id`, or its position).
    """

    context: str
    question: str
    answers: tuple = ()
    answer_starts: tuple = ()
    id: str = ""


@dataclasses.dataclass
class QAData(ListSplits):
    """A question-answering data set split into train, validation and test.

    Attributes:
        name: the dataset spec it was loaded from.
        train, validation: lists of `QAExample`.
        test: a list of `QAExample`, or None.
        num_examples: dict split -> number of questions (a property).
    """


def parse_qa_spec(spec):
    """`(format, path)` of a `jsonl:PATH` or `squad:PATH` spec.

    Raises:
        DataError: for any other spec.
    """
    fmt, _, path = spec.partition(":")
    if fmt not in QA_FORMATS or not path:
        raise DataError(f"Question-answering dataset {spec!r} is not supported. {QA_DATASET_HELP}")
    return fmt, path


def read_qa_file(spec):
    """Reads and checks every example of a question-answering file.

    Args:
        spec: `"jsonl:PATH"` or `"squad:PATH"` (see the module docstring).

    Returns:
        A list of `QAExample`.

    Raises:
        DataError: for a missing or malformed file, a missing field, or an
            answer whose text is not at its start in the context.

    Example:

    >>> import json, os, tempfile
    >>> from keras_adapters.data.question_answering import read_qa_file
    >>> path = os.path.join(tempfile.mkdtemp(), "qa.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write(json.dumps({"context": "The tower is in Paris.", "question": "Where?",
    ...                             "answers": {"text": ["Paris"], "answer_start": [16]}}) + "\\n")
    >>> read_qa_file("jsonl:" + path)[0].answers
    ('Paris',)
    """
    fmt, path = parse_qa_spec(spec)
    if fmt == "jsonl":
        _, rows = read_rows(path, "jsonl")
        return [_example(record, f"{path!r} line {line}", str(line)) for line, record in rows]
    return _read_squad_json(path)


def _read_squad_json(path):
    try:
        with open(path, encoding="utf-8-sig") as f:
            document = json.load(f)
    except FileNotFoundError:
        raise DataError(f"Question-answering file {path!r} does not exist.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path!r} is not a UTF-8 JSON file ({e}). {QA_DATASET_HELP}") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise DataError(f"{path!r} has no top-level 'data' list, so it is not a SQuAD file. "
                        + QA_DATASET_HELP)
    examples = []
    for article in document["data"]:
        for paragraph in article.get("paragraphs", []) if isinstance(article, dict) else []:
            for qa in paragraph.get("qas", []):
                record = {"context": paragraph.get("context"), **qa}
                identifier = str(qa.get("id", len(examples) + 1))
                examples.append(_example(record, f"{path!r} question {identifier!r}", identifier))
    if not examples:
        raise DataError(f"{path!r} holds no questions (data -> paragraphs -> qas).")
    return examples


def _example(record, where, default_id):
    """A checked `QAExample` from one JSON record (`where` names it in errors)."""
    context, question, answers = record.get("context"), record.get("question"), record.get("answers")
    if not isinstance(context, str) or not isinstance(question, str):
        raise DataError(f"{where} needs string fields 'context' and 'question'.")
    if isinstance(answers, dict):
        texts, starts = answers.get("text", []), answers.get("answer_start", [])
    elif isinstance(answers, list):
        texts = [a.get("text") if isinstance(a, dict) else None for a in answers]
        starts = [a.get("answer_start") if isinstance(a, dict) else None for a in answers]
    else:
        raise DataError(f"{where} needs 'answers': {{\"text\": [...], \"answer_start\": [...]}} or a "
                        "list of {\"text\", \"answer_start\"} objects ([] for no answer).")
    if len(texts) != len(starts):
        raise DataError(f"{where} has {len(texts)} answer texts but {len(starts)} answer_start values.")
    for text, start in zip(texts, starts):
        if not isinstance(text, str) or not text or isinstance(start, bool) or not isinstance(start, int):
            raise DataError(f"{where} has an answer {text!r} at {start!r}: each answer needs a "
                            "non-empty text and an integer answer_start.")
        if context[start : start + len(text)] != text:
            found = context[max(start, 0) : max(start, 0) + len(text)]
            raise DataError(f"{where}: the answer {text!r} is not at character {start} of its "
                            f"context (found {found!r} there). answer_start counts characters "
                            "of the context from 0.")
    return QAExample(context, question, tuple(texts), tuple(starts), str(record.get("id", default_id)))


def load_qa_dataset(spec, validation=None, test=None, seed=0, max_examples=None,
                    validation_fraction=0.1):
    """Loads a question-answering data set and splits it.

    Without `validation`, a seeded `validation_fraction` of the questions
    is held out, taken by context (all questions about one context fall on
    the same side), so no validation context was seen in training.

    Args:
        spec: the training file (`jsonl:PATH` or `squad:PATH`).
        validation: optional spec of a validation file.
        test: optional spec of a test file.
        seed: seed of the split and of `max_examples`.
        max_examples: use at most this many training examples.
        validation_fraction: share held out when `validation` is None.

    Returns:
        A `QAData`.

    Raises:
        DataError: for a bad file, or too few contexts to hold some out.

    Example:

    >>> import json, os, tempfile
    >>> from keras_adapters.data.question_answering import load_qa_dataset
    >>> path = os.path.join(tempfile.mkdtemp(), "qa.jsonl")
    >>> with open(path, "w") as f:
    ...     for city in ["Paris", "Rome", "Oslo", "Bern"] * 5:
    ...         context = f"The museum is in {city}."
    ...         _ = f.write(json.dumps({"context": context, "question": "Where?", "answers": {
    ...             "text": [city], "answer_start": [context.index(city)]}}) + "\\n")
    >>> load_qa_dataset("jsonl:" + path).num_examples  # one of 4 contexts held out
    {'train': 15, 'validation': 5}
    """
    examples = read_qa_file(spec)
    if validation is not None:
        train, held_out = examples, read_qa_file(validation)
    else:
        contexts = sorted({example.context for example in examples})
        if len(contexts) < 2:
            raise DataError(f"{spec!r} has one context only: give --validation-data, or more contexts.")
        count = max(1, int(round(validation_fraction * len(contexts))))
        order = np.random.default_rng(seed).permutation(len(contexts))
        held_contexts = {contexts[i] for i in order[:count]}
        train = [e for e in examples if e.context not in held_contexts]
        held_out = [e for e in examples if e.context in held_contexts]
    train = [train[i] for i in seeded_subset(len(train), max_examples, seed)]
    return QAData(spec, train, held_out, read_qa_file(test) if test is not None else None)
