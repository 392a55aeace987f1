"""Classification metrics computed from logits, with scikit-learn."""

import numpy as np
from sklearn import metrics as sklearn_metrics

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
    >>> from keras_adapters.training import classification_metrics
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
    class_indices = np.arange(len(label_names))
    predictions = logits.argmax(axis=1)
    if labels.size:
        accuracy = sklearn_metrics.accuracy_score(labels, predictions)
        # labels=None: the mean over the classes in `labels` or `predictions`.
        macro_f1 = sklearn_metrics.f1_score(labels, predictions, average="macro", zero_division=0)
        # Per-class counts without the (classes x classes) matrix, which would
        # not fit in memory for very many classes.
        precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
            labels, predictions, labels=class_indices, zero_division=0
        )
    else:
        # scikit-learn has no scores for zero examples (NaN or an error).
        accuracy = macro_f1 = 0.0
        precision = recall = f1 = support = np.zeros(len(label_names))
    metrics = {
        "num_examples": int(labels.size),
        "accuracy": float(accuracy),
        "macro_f1": float(macro_f1),
        # Not sklearn's `log_loss`: it takes probabilities and clips them,
        # which caps the loss of confidently wrong predictions.
        "loss": _mean_cross_entropy(labels, logits),
        "per_class": {
            name: {
                "precision": float(precision[index]),
                "recall": float(recall[index]),
                "f1": float(f1[index]),
                "support": int(support[index]),
            }
            for index, name in enumerate(label_names)
        },
    }
    if len(label_names) <= CONFUSION_MATRIX_MAX_CLASSES:
        confusion = (
            sklearn_metrics.confusion_matrix(labels, predictions, labels=class_indices)
            if labels.size
            else np.zeros((len(label_names), len(label_names)), "int64")
        )
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
