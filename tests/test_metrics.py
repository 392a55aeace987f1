"""`classification_metrics`: the scores of metrics.json, computed by scikit-learn."""

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_adapters.training.metrics import CONFUSION_MATRIX_MAX_CLASSES, classification_metrics


@st.composite
def predictions(draw):
    """`(labels, logits, label_names)` with few distinct logit values (many ties)
    and classes that are never true or never predicted."""
    num_classes = draw(st.integers(2, 6))
    size = draw(st.integers(1, 30))
    labels = draw(st.lists(st.integers(0, num_classes - 1), min_size=size, max_size=size))
    logits = draw(st.lists(
        st.lists(st.sampled_from([0.0, 1.0, 2.0]), min_size=num_classes, max_size=num_classes),
        min_size=size, max_size=size,
    ))
    return np.array(labels), np.array(logits), [f"class{i}" for i in range(num_classes)]


@settings(max_examples=60, deadline=None)
@given(predictions())
def test_scores_agree_with_the_confusion_matrix(case):
    labels, logits, names = case
    metrics = classification_metrics(labels, logits, names)
    json.dumps(metrics)  # JSON-serializable as metrics.json needs
    matrix = np.array(metrics["confusion_matrix"])
    # Ties go to the first class with the highest logit, as argmax does.
    predicted = logits.argmax(axis=1)
    assert matrix.sum() == metrics["num_examples"] == len(labels)
    assert metrics["accuracy"] == np.trace(matrix) / len(labels)
    assert matrix[labels[0], predicted[0]] >= 1
    present = []
    for index, name in enumerate(names):
        scores = metrics["per_class"][name]
        true_positive, actual, predicted_count = matrix[index, index], matrix[index].sum(), matrix[:, index].sum()
        assert scores["support"] == actual
        assert scores["precision"] == (true_positive / predicted_count if predicted_count else 0.0)
        assert scores["recall"] == (true_positive / actual if actual else 0.0)
        assert np.isclose(scores["f1"], 2 * true_positive / (actual + predicted_count) if actual else 0.0)
        if actual or predicted_count:
            present.append(scores["f1"])
    # Classes absent from both the labels and the predictions are left out.
    assert np.isclose(metrics["macro_f1"], np.mean(present))


def test_a_class_that_never_occurs_keeps_zero_scores_and_stays_out_of_the_average():
    metrics = classification_metrics([0, 0, 2], [[1.0, 0, 0], [0, 0, 1.0], [0, 0, 1.0]], ["a", "b", "c"])
    assert metrics["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics["macro_f1"] == np.mean([metrics["per_class"]["a"]["f1"], metrics["per_class"]["c"]["f1"]])
    assert metrics["confusion_matrix"] == [[1, 0, 1], [0, 0, 0], [0, 0, 1]]


def test_no_examples_give_zero_scores_not_an_error():
    metrics = classification_metrics(np.zeros(0, "int64"), np.zeros((0, 2)), ["neg", "pos"])
    assert (metrics["num_examples"], metrics["accuracy"], metrics["macro_f1"], metrics["loss"]) == (0, 0.0, 0.0, 0.0)
    assert metrics["confusion_matrix"] == [[0, 0], [0, 0]]
    assert metrics["per_class"]["pos"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_loss_of_a_confidently_wrong_prediction_is_not_capped():
    # -log softmax([0, 200])[0] = 200. A loss on clipped probabilities (as
    # scikit-learn's log_loss computes) would stop near -log(2.2e-16) = 36.
    metrics = classification_metrics([0], [[0.0, 200.0]], ["a", "b"])
    assert np.isclose(metrics["loss"], 200.0)


def test_many_classes_leave_out_the_confusion_matrix():
    names = [f"c{i}" for i in range(CONFUSION_MATRIX_MAX_CLASSES + 1)]
    labels = np.arange(len(names))
    metrics = classification_metrics(labels, np.eye(len(names)), names)
    assert "confusion_matrix" not in metrics
    assert metrics["accuracy"] == metrics["macro_f1"] == 1.0 and len(metrics["per_class"]) == len(names)
