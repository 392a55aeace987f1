"""`.keras` and preset round trips, adapter-only files, atomic writes."""

import hashlib
import json
import os

import keras
import keras_hub
import numpy as np
import pytest
import safetensors.numpy

import keras_adapters
from keras_adapters import add_adapters, load_adapters, save_adapters

from helpers import bert, gpt2, inputs_for, output_of


def _perturb_trainable(model, seed=1, scale=0.2):
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(w.numpy() + rng.normal(scale=scale, size=w.shape).astype("float32"))


def _classifier(backbone):
    return keras_hub.models.BertTextClassifier(backbone, num_classes=3, preprocessor=None)


def test_keras_file_round_trip_restores_adapters_and_frozen_state(tmp_path):
    adapted = add_adapters(bert(), "houlsby", bottleneck_size=4)
    classifier = _classifier(adapted)
    _perturb_trainable(classifier)
    x = inputs_for(adapted)
    expected = classifier.predict(x, verbose=0)
    trainable_paths = sorted(w.path for w in classifier.trainable_weights)
    classifier.save(tmp_path / "model.keras")

    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.backbone, keras_adapters.AdaptedBackbone)
    assert isinstance(loaded.backbone, keras_hub.models.BertBackbone)
    assert loaded.backbone.adapter_names == ("default",)
    assert sorted(w.path for w in loaded.trainable_weights) == trainable_paths
    assert not loaded.backbone.get_layer("token_embedding").trainable
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


def test_active_adapters_are_saved(tmp_path):
    adapted = add_adapters(add_adapters(bert(), name="a"), name="b")
    adapted.set_active_adapters(["a", "b"])
    adapted.set_trainable_adapters(["a"])
    inputs = adapted.input
    model = keras.Model(inputs, adapted(inputs)["sequence_output"])
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    backbone = restored.get_layer(adapted.name)
    assert backbone.active_adapters == ("a", "b")
    assert backbone.trainable_adapters == ("a",)
    x = inputs_for(adapted)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("make", [bert, gpt2])
def test_save_to_preset_round_trip(tmp_path, make):
    adapted = add_adapters(make(), "houlsby", bottleneck_size=4)
    _perturb_trainable(adapted)
    x = inputs_for(adapted)
    adapted.save_to_preset(str(tmp_path / "preset"))
    restored = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    assert type(restored) is type(adapted)
    assert restored.adapter_names == ("default",)
    assert sorted(w.path for w in restored.trainable_weights) == sorted(
        w.path for w in adapted.trainable_weights
    )
    np.testing.assert_array_equal(output_of(restored, x), output_of(adapted, x))


def test_adapter_file_reproduces_task_predictions(tmp_path):
    base = bert()
    classifier = _classifier(add_adapters(base, "houlsby", bottleneck_size=4))
    _perturb_trainable(classifier)
    x = inputs_for(base)
    expected = classifier.predict(x, verbose=0)
    path = save_adapters(classifier, tmp_path / "task", metadata={"labels": ["a", "b", "c"]})

    fresh = _classifier(add_adapters(base, config=path))
    assert np.abs(fresh.predict(x, verbose=0) - expected).max() > 0
    assert load_adapters(fresh, path) == "default"
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), expected)
    assert keras_adapters.read_adapter_file(path)["metadata"] == {"labels": ["a", "b", "c"]}


def test_adapter_file_holds_adapter_norms_and_head_only(tmp_path):
    classifier = _classifier(add_adapters(bert(), "houlsby", bottleneck_size=4))
    path = save_adapters(classifier, tmp_path / "task")
    tensors = safetensors.numpy.load_file(os.path.join(path, "adapter_weights.safetensors"))
    kinds = {key.split("/")[0] for key in tensors}
    assert kinds == {"adapter", "layer_norm", "head"}
    assert sum(a.size for a in tensors.values()) == keras_adapters.count_parameters(classifier).trainable
    pfeiffer = add_adapters(bert(), "pfeiffer", bottleneck_size=4)
    tensors = safetensors.numpy.load_file(
        os.path.join(save_adapters(pfeiffer, tmp_path / "p"), "adapter_weights.safetensors")
    )
    assert {key.split("/")[0] for key in tensors} == {"adapter"}


def test_adapter_file_is_small_for_a_realistic_size(tmp_path):
    # BERT-base layout at reduced vocabulary: 12 x 768, bottleneck 64.
    base = bert(num_layers=12, hidden_dim=768, num_heads=12, intermediate_dim=3072, vocabulary_size=30522, max_sequence_length=128)
    adapted = add_adapters(base, "houlsby")
    path = save_adapters(adapted, tmp_path / "task")
    adapter_bytes = os.path.getsize(os.path.join(path, "adapter_weights.safetensors"))
    base.save_weights(tmp_path / "full.weights.h5")
    full_bytes = os.path.getsize(tmp_path / "full.weights.h5")
    assert adapter_bytes < 0.03 * full_bytes


def test_gpt2_adapter_round_trip(tmp_path):
    base = gpt2()
    adapted = add_adapters(base, "pfeiffer", bottleneck_size=4)
    _perturb_trainable(adapted)
    path = save_adapters(adapted, tmp_path / "lm")
    fresh = add_adapters(base, config=path)
    load_adapters(fresh, path)
    x = inputs_for(base)
    np.testing.assert_array_equal(output_of(fresh, x), output_of(adapted, x))


def _assert_unchanged(model, snapshot):
    for w, before in zip(model.weights, snapshot):
        np.testing.assert_array_equal(w.numpy(), before)


def test_mismatched_backbone_dimensions_fail_without_partial_load(tmp_path):
    path = save_adapters(add_adapters(bert(), bottleneck_size=4), tmp_path / "a")
    other = add_adapters(bert(hidden_dim=32), bottleneck_size=4)
    snapshot = [w.numpy().copy() for w in other.weights]
    with pytest.raises(ValueError) as error:
        load_adapters(other, path)
    message = str(error.value)
    assert "nothing was loaded" in message
    assert "backbone hidden_dim: file has 16, model has 32" in message
    _assert_unchanged(other, snapshot)


def test_mismatched_adapter_config_fails(tmp_path):
    path = save_adapters(add_adapters(bert(), bottleneck_size=4), tmp_path / "a")
    other = add_adapters(bert(), "pfeiffer", bottleneck_size=8)
    snapshot = [w.numpy().copy() for w in other.weights]
    with pytest.raises(ValueError) as error:
        load_adapters(other, path)
    message = str(error.value)
    assert "bottleneck_size: file has 4, model has 8" in message
    assert "placements" in message
    _assert_unchanged(other, snapshot)


def test_layer_count_mismatch_fails(tmp_path):
    path = save_adapters(add_adapters(bert(), bottleneck_size=4), tmp_path / "a")
    with pytest.raises(ValueError, match="num_transformer_blocks: file has 2, model has 3"):
        load_adapters(add_adapters(bert(num_layers=3), bottleneck_size=4), path)


def test_head_mismatches_fail(tmp_path):
    base = bert()
    path = save_adapters(_classifier(add_adapters(base, bottleneck_size=4)), tmp_path / "task")
    with pytest.raises(ValueError, match="bare backbone"):
        load_adapters(add_adapters(base, config=path), path)
    load_adapters(add_adapters(base, config=path), path, include_head=False)
    two_classes = keras_hub.models.BertTextClassifier(
        add_adapters(base, config=path), num_classes=2, preprocessor=None
    )
    with pytest.raises(ValueError, match=r"file shape \(16, 3\), model shape \(16, 2\)"):
        load_adapters(two_classes, path)


def rewrite_adapter_weights(path, tensors):
    """Replaces an adapter's tensors and re-records its digest and listing.

    A consistent rewrite (as a tool that knows the format would make) passes
    the file checks, so what fails is the comparison with the model.
    """
    weights_path = os.path.join(path, "adapter_weights.safetensors")
    safetensors.numpy.save_file(tensors, weights_path)
    config_path = os.path.join(path, "adapter_config.json")
    with open(config_path, encoding="utf-8") as f:
        document = json.load(f)
    with open(weights_path, "rb") as f:
        document["weights_sha256"] = hashlib.sha256(f.read()).hexdigest()
    document["tensors"] = {key: list(a.shape) for key, a in tensors.items()}
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(document, f)


def test_tampered_file_fails(tmp_path):
    base = bert()
    path = save_adapters(add_adapters(base, bottleneck_size=4), tmp_path / "a")
    weights_path = os.path.join(path, "adapter_weights.safetensors")
    tensors = safetensors.numpy.load_file(weights_path)
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    tensors["adapter/9/attention/extra/kernel"] = np.zeros((2, 2), "float32")
    rewrite_adapter_weights(path, tensors)
    with pytest.raises(ValueError) as error:
        load_adapters(add_adapters(base, config=path), path)
    assert f"missing tensor {dropped}" in str(error.value)
    assert "unexpected tensor adapter/9/attention/extra/kernel" in str(error.value)


def test_unknown_adapter_and_not_an_adapter_dir(tmp_path):
    base = bert()
    path = save_adapters(add_adapters(base, bottleneck_size=4, name="sentiment"), tmp_path / "a")
    with pytest.raises(ValueError, match="no adapter named 'sentiment'"):
        load_adapters(add_adapters(base, bottleneck_size=4, name="other"), path)
    with pytest.raises(ValueError, match="is not a saved adapter"):
        load_adapters(add_adapters(base), tmp_path)


def test_save_is_atomic_and_refuses_to_overwrite(tmp_path, monkeypatch):
    adapted = add_adapters(bert(), bottleneck_size=4)
    target = tmp_path / "task"
    save_adapters(adapted, target)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_adapters(adapted, target)
    before = sorted(os.listdir(target))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. Ctrl-C mid-write

    monkeypatch.setattr(safetensors.numpy, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_adapters(adapted, target, overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        save_adapters(adapted, tmp_path / "new")
    assert sorted(os.listdir(tmp_path)) == ["task"]  # no partial directories
    assert sorted(os.listdir(target)) == before


def test_published_directory_has_normal_permissions(tmp_path):
    # Staging directories are private (0700); the published one must not be.
    umask = os.umask(0)
    os.umask(umask)
    path = save_adapters(add_adapters(bert(), bottleneck_size=4), tmp_path / "a")
    assert os.stat(path).st_mode & 0o777 == 0o777 & ~umask
    for name in os.listdir(path):
        assert os.stat(os.path.join(path, name)).st_mode & 0o777 == 0o666 & ~umask
