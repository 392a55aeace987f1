"""Tasks (adapter + head) travelling as files, sharing one backbone, served together."""

import os

import keras
import numpy as np
import pytest

from keras_adapters import add_adapters, load_adapters, load_task, save_adapters
from keras_adapters.export import check_export, export_multitask_saved_model, export_saved_model
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.utils.sizes import directory_bytes

from helpers import bert, inputs_for


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))


@pytest.fixture
def saved_tasks(tmp_path):
    """Two tasks trained (randomised) on one base, saved as adapter files."""
    base = bert()
    shared = add_adapters(base, "pfeiffer", name="sentiment", bottleneck_size=4)
    sentiment = PooledTextClassifier(shared, 2)
    _randomize(sentiment, 1)
    shared.add_adapter("topic", "pfeiffer", bottleneck_size=8)
    shared.train_adapter("topic")
    topic = PooledTextClassifier(shared, 4, name="topic_classifier")
    _randomize(topic, 2)
    x = inputs_for(base)
    expected = {}
    for task, model in (("sentiment", sentiment), ("topic", topic)):
        shared.set_active_adapters(task)
        expected[task] = keras.ops.convert_to_numpy(model(x, training=False))
        save_adapters(model, tmp_path / task, name=task, metadata={"task": task})
    return base, x, expected, tmp_path


def test_load_task_restores_each_task_on_one_backbone(saved_tasks):
    base, x, expected, path = saved_tasks
    sentiment = load_task(base, path / "sentiment")  # clone of the base
    backbone = sentiment.backbone
    topic = load_task(backbone, path / "topic")  # in place, same backbone
    assert topic.backbone is backbone and backbone.adapter_names == ("sentiment", "topic")
    for task, model in (("sentiment", sentiment), ("topic", topic)):
        backbone.set_active_adapters(task)
        np.testing.assert_allclose(model(x, training=False), expected[task], rtol=1e-5, atol=1e-5)


def test_layer_norm_training_adapters_cannot_share_a_backbone(saved_tasks, tmp_path):
    base, _, _, path = saved_tasks
    houlsby = PooledTextClassifier(add_adapters(base, "houlsby", name="nli", bottleneck_size=4), 3)
    save_adapters(houlsby, tmp_path / "nli")
    shared = load_task(base, path / "sentiment").backbone
    with pytest.raises(ValueError, match="trains the backbone's layer norms"):
        load_task(shared, tmp_path / "nli")


def test_adapter_from_another_backbone_is_refused(saved_tasks):
    _, _, _, path = saved_tasks
    other_base = bert()  # same shapes, other weights
    model = PooledTextClassifier(add_adapters(other_base, config=path / "sentiment", name="sentiment"), 2)
    with pytest.raises(ValueError, match="trained on another base backbone"):
        load_adapters(model, path / "sentiment")
    with pytest.raises(ValueError, match="trained on another base backbone"):
        load_task(other_base, path / "sentiment")


def test_multitask_export_stores_the_backbone_once(saved_tasks, tmp_path):
    base, x, expected, path = saved_tasks
    sentiment = load_task(base, path / "sentiment")
    topic = load_task(sentiment.backbone, path / "topic")
    exported = export_multitask_saved_model(
        {"sentiment": sentiment, "topic": topic}, tmp_path / "serving", "tasks", sample_inputs=x
    )
    assert set(exported.signatures) == {"serving_default", "sentiment", "topic"}
    assert exported.signatures["topic"]["outputs"]["probabilities"]["shape"] == [-1, 4]
    result = check_export(exported.path)
    assert result.passed, result.problems
    assert set(result.report["runs"]) == {"serving_default", "sentiment", "topic"}
    # The recorded per-signature outputs are each task's own predictions.
    with np.load(os.path.join(exported.path, "assets.extra", "sample_outputs.npz")) as outputs:
        for task in ("sentiment", "topic"):
            np.testing.assert_allclose(outputs[f"{task}.logits"], expected[task], rtol=1e-5, atol=1e-5)
    single = export_saved_model(sentiment, tmp_path / "single", "sentiment")
    multi_bytes = directory_bytes(os.path.join(exported.path, "variables"))
    single_bytes = directory_bytes(os.path.join(single.path, "variables"))
    adapters_and_heads = 4 * sum(
        np.prod(w.shape) for w in topic.backbone.adapter_weights("topic") + topic.weights[-2:]
    )
    assert multi_bytes < single_bytes + adapters_and_heads + 4096  # not two backbones


def test_multitask_export_errors(saved_tasks, tmp_path):
    base, _, _, path = saved_tasks
    sentiment = load_task(base, path / "sentiment")
    separate = load_task(base, path / "topic")  # its own clone: not shared
    with pytest.raises(ValueError, match="share one backbone"):
        export_multitask_saved_model({"sentiment": sentiment, "topic": separate}, tmp_path, "m")
    with pytest.raises(ValueError, match="Unknown adapter name"):
        export_multitask_saved_model({"nope": sentiment}, tmp_path, "m")
    with pytest.raises(ValueError, match="Invalid task name"):
        export_multitask_saved_model({"serving_x": sentiment}, tmp_path, "m")
