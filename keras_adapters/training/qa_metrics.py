"""SQuAD exact match and token F1 for extractive question answering.

The standard SQuAD v1.1/v2.0 definitions: both the prediction and each gold
answer are normalised (lower-cased, punctuation removed, the articles "a",
"an" and "the" removed, whitespace collapsed); an example scores the best
value over its gold answers, and a data set the mean over examples, as a
percentage. An empty prediction matches an example without answers
(SQuAD 2.0's unanswerable questions) and nothing else.

Imports neither Keras nor TensorFlow.
"""

import collections
import re
import string

__all__ = ["exact_match", "normalize_answer", "squad_scores", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text):
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces.

    Args:
        text: an answer string.

    Returns:
        The normalised string.

    Example:

    >>> from keras_adapters.training.qa_metrics import normalize_answer
    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    """
    text = "".join(character for character in text.lower() if character not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction, answers):
    """1.0 if the normalised prediction equals a normalised gold answer, else 0.0.

    Args:
        prediction: the predicted answer string ("" for no answer).
        answers: the gold answer strings (empty for an unanswerable question).

    Returns:
        1.0 or 0.0.

    Example:

    >>> from keras_adapters.training.qa_metrics import exact_match
    >>> exact_match("the Louvre.", ["Louvre", "the Louvre museum"]), exact_match("", [])
    (1.0, 1.0)
    """
    golds = [normalize_answer(answer) for answer in answers] or [""]
    return float(normalize_answer(prediction) in golds)


def token_f1(prediction, answers):
    """The best bag-of-tokens F1 between the prediction and a gold answer.

    Tokens are the whitespace-separated words of the normalised strings; the
    overlap counts each word as often as it occurs in both. When either side
    is empty, F1 is 1.0 if both are, else 0.0.

    Args:
        prediction: the predicted answer string.
        answers: the gold answer strings (empty for an unanswerable question).

    Returns:
        A float in [0, 1].

    Example:

    >>> from keras_adapters.training.qa_metrics import token_f1
    >>> round(token_f1("in Paris France", ["Paris"]), 4)  # precision 1/3, recall 1
    0.5
    """
    return max(_f1(normalize_answer(prediction).split(), normalize_answer(answer).split())
               for answer in (list(answers) or [""]))


def _f1(predicted, gold):
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions, answers):
    """Mean exact match and token F1 over examples, in percent (as SQuAD reports).

    Args:
        predictions: one predicted string per example.
        answers: one list of gold answer strings per example.

    Returns:
        `{"exact_match": float, "f1": float, "num_examples": int}`.

    Raises:
        ValueError: if the two lists differ in length or are empty.

    Example:

    >>> from keras_adapters.training.qa_metrics import squad_scores
    >>> squad_scores(["Paris", "in 1889"], [["Paris"], ["1889"]])
    {'exact_match': 50.0, 'f1': 83.33333333333333, 'num_examples': 2}
    """
    predictions, answers = list(predictions), list(answers)
    if len(predictions) != len(answers) or not predictions:
        raise ValueError(
            f"squad_scores needs one prediction per example and at least one example; got "
            f"{len(predictions)} predictions for {len(answers)} examples."
        )
    count = len(predictions)
    return {
        "exact_match": 100.0 * sum(map(exact_match, predictions, answers)) / count,
        "f1": 100.0 * sum(map(token_f1, predictions, answers)) / count,
        "num_examples": count,
    }
