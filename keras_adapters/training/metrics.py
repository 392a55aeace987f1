"""Classification metrics computed from logits, with numpy."""

import numpy as np

# Up to this many classes the metrics hold the full confusion matrix; above
# it (e.g. 10,000 classes: 10^8 cells, about 1 GB as JSON) only per-class
# scores, which grow linearly with the number of classes.
CONFUSION_MATRIX_MAX_CLASSES = 50


def classification_metrics(labels, logits, label_names):
    """Accuracy, macro-F1, mean cross-entropy and per-class scores.

    Args:
        labels: int array `(n,)` of true class indices.
        logits: float array `(n, num_classes)`.
        label_names: list of class names, index-aligned.

    Returns:
        A JSON-serializable dict with `accuracy`, `macro_f1` (mean F1 over
        the classes that occur in `labels` or in the predictions, as
        scikit-learn does: a class absent from both says nothing about the
        model), `loss`, `num_examples`, `per_class` (precision, recall, f1,
        support) and, for at most `CONFUSION_MATRIX_MAX_CLASSES` (50)
        classes, `confusion_matrix` (rows: true class, columns: predicted).
        With more classes the confusion matrix is left out (its size grows
        with the square of the number of classes).

    Example:

    >>> import numpy as np
    >>> m = classification_metrics(np.array([0, 1, 1]),
    ...     np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]), ["neg", "pos"])
    >>> round(m["accuracy"], 4), round(m["macro_f1"], 4), m["confusion_matrix"]
    (0.6667, 0.6667, [[1, 0], [1, 1]])
    >>> # A third class that never occurs does not drag the average down:
    >>> classification_metrics(np.array([0, 1]), np.array([[1.0, 0, 0], [0, 1.0, 0]]),
    ...                        ["a", "b", "c"])["macro_f1"]
    1.0
    >>> many = classification_metrics(np.arange(60), np.eye(60), [f"c{i}" for i in range(60)])
    >>> "confusion_matrix" in many, len(many["per_class"]), many["accuracy"]
    (False, 60, 1.0)
    """
    labels = np.asarray(labels, dtype="int64")
    logits = np.asarray(logits)
    num_classes = len(label_names)
    predictions = logits.argmax(axis=1)
    # Per-class counts without the (num_classes x num_classes) matrix, which
    # would not fit in memory for very many classes.
    actual = np.bincount(labels, minlength=num_classes)
    predicted = np.bincount(predictions, minlength=num_classes)
    true_positive = np.bincount(labels[labels == predictions], minlength=num_classes)
    per_class = {}
    f1s = []
    present = set(labels.tolist()) | set(predictions.tolist())
    for index, name in enumerate(label_names):
        precision = true_positive[index] / predicted[index] if predicted[index] else 0.0
        recall = true_positive[index] / actual[index] if actual[index] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if index in present:
            f1s.append(f1)
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual[index]),
        }
    metrics = {
        "num_examples": int(labels.size),
        "accuracy": float((predictions == labels).mean()) if labels.size else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "loss": _mean_cross_entropy(labels, logits),
        "per_class": per_class,
    }
    if num_classes <= CONFUSION_MATRIX_MAX_CLASSES:
        confusion = np.zeros((num_classes, num_classes), dtype="int64")
        np.add.at(confusion, (labels, predictions), 1)
        metrics["confusion_matrix"] = confusion.tolist()
    return metrics


def _mean_cross_entropy(labels, logits):
    """Mean of `-log softmax(logits)[label]`, stable for large logits."""
    if not labels.size:
        return 0.0
    rows = np.arange(labels.size)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_normalizer = np.log(np.exp(shifted).sum(axis=1, dtype="float64"))
    return float(np.mean(log_normalizer - shifted[rows, labels].astype("float64")))
