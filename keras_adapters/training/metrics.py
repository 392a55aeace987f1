"""Classification metrics computed from logits, with numpy."""

import numpy as np


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
        model), `loss`,
        `num_examples`, `per_class` (precision, recall, f1, support) and
        `confusion_matrix` (rows: true class, columns: predicted).

    Example:

    >>> import numpy as np
    >>> m = classification_metrics(np.array([0, 1, 1]),
    ...     np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]), ["neg", "pos"])
    >>> round(m["accuracy"], 4), round(m["macro_f1"], 4)
    (0.6667, 0.6667)
    >>> # A third class that never occurs does not drag the average down:
    >>> classification_metrics(np.array([0, 1]), np.array([[1.0, 0, 0], [0, 1.0, 0]]),
    ...                        ["a", "b", "c"])["macro_f1"]
    1.0
    """
    labels = np.asarray(labels, dtype="int64")
    logits = np.asarray(logits, dtype="float64")
    num_classes = len(label_names)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    predictions = logits.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype="int64")
    np.add.at(confusion, (labels, predictions), 1)
    per_class = {}
    f1s = []
    present = set(labels.tolist()) | set(predictions.tolist())
    for index, name in enumerate(label_names):
        true_positive = confusion[index, index]
        predicted = confusion[:, index].sum()
        actual = confusion[index, :].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if index in present:
            f1s.append(f1)
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual),
        }
    return {
        "num_examples": int(labels.size),
        "accuracy": float((predictions == labels).mean()) if labels.size else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "loss": float(-log_probs[np.arange(labels.size), labels].mean()) if labels.size else 0.0,
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }
