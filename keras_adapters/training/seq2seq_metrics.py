"""ROUGE scores of generated texts, with Google's `rouge-score` package.

`rouge-score` is the reimplementation of ROUGE-1.5.5 used in the
summarisation literature (Lin 2004). Scores here are F1 averaged over
examples, times 100, with Porter stemming (as ROUGE-1.5.5's `-m`).
"""

__all__ = ["ROUGE_TYPES", "rouge_scores"]

#: ROUGE-1 and -2 (unigram, bigram overlap) and ROUGE-L (longest common subsequence).
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def rouge_scores(predictions, references):
    """Mean ROUGE F1 (x100) of predictions against one reference each.

    Args:
        predictions: list of generated strings.
        references: list of reference strings, as long as `predictions`.

    Returns:
        Dict rouge type -> mean F1 in [0, 100].

    Raises:
        ValueError: if the lists differ in length or are empty.

    Example:

    >>> from keras_adapters.training.seq2seq_metrics import rouge_scores
    >>> scores = rouge_scores(["the cat sat on the mat"], ["the cat was on the mat"])
    >>> {name: round(value, 1) for name, value in scores.items()}
    {'rouge1': 83.3, 'rouge2': 60.0, 'rougeL': 83.3}
    """
    from rouge_score import rouge_scorer  # Here: `--help` must not import it.

    if len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"rouge_scores needs one reference per prediction and at least one pair; got "
            f"{len(predictions)} prediction(s) and {len(references)} reference(s).")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, reference in zip(predictions, references):
        for name, score in scorer.score(reference, prediction).items():
            totals[name] += score.fmeasure
    return {name: 100.0 * total / len(predictions) for name, total in totals.items()}
