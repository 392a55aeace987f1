"""Adapter verbs take effect in compiled paths: predict, evaluate, fit, generate, export.

Keras traces `predict`/`evaluate`/`fit` once per model and KerasHub caches
`generate_function`; the adapter setup is read while tracing. Each test traces
a function first, then changes the adapters, then goes through the compiled
path again and compares with a direct (eager) call.
"""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_adapters import add_adapters
from keras_adapters.composition import Fuse
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import export_saved_model
from keras_adapters.tasks import PooledTextClassifier

from helpers import bert, gpt2, inputs_for, output_of


def _randomize(backbone, name, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    for w in backbone.adapter_weights(name):
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))


def _two_adapters(base, scale=0.3):
    """`base` cloned with random adapters "a" (active) and "b"."""
    backbone = add_adapters(base, "pfeiffer", name="a", bottleneck_size=4)
    backbone.add_adapter("b", "pfeiffer", bottleneck_size=4)
    _randomize(backbone, "a", 1, scale)
    _randomize(backbone, "b", 2, scale)
    return backbone


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_backbone_predict_follows_every_switch():
    base = bert(num_layers=1)
    backbone = _two_adapters(base)
    x = inputs_for(base)
    backbone.compile(jit_compile=False)  # XLA adds nothing here but compile time
    with_a = backbone.predict(x, verbose=0)["sequence_output"]  # traced with "a"
    np.testing.assert_allclose(with_a, output_of(backbone, x), atol=1e-5)

    backbone.set_active_adapters("b")
    with_b = backbone.predict(x, verbose=0)["sequence_output"]
    assert np.abs(with_b - with_a).max() > 1e-2
    np.testing.assert_allclose(with_b, output_of(backbone, x), atol=1e-5)

    backbone.set_active_adapters(None)
    original = output_of(base, x)
    np.testing.assert_allclose(backbone.predict(x, verbose=0)["sequence_output"], original, atol=1e-5)


def test_every_verb_that_changes_what_runs_drops_traced_functions():
    backbone = _two_adapters(bert(num_layers=1))
    # Stands for a model whose functions were traced through the backbone
    # (what a slot records at trace time; real traces are tested below).
    owner = keras.Sequential([keras.layers.Dense(1)])
    backbone.adapter_slots()[-1][2]._traced_by.add(owner)

    def stale(*args, **kwargs):
        raise AssertionError("a stale traced function ran")

    verbs = [
        ("add_adapter", lambda: backbone.add_adapter("c", "pfeiffer", bottleneck_size=4)),
        ("set_active_adapters", lambda: backbone.set_active_adapters("c")),
        ("set_trainable_adapters", lambda: backbone.set_trainable_adapters("c")),
        ("train_adapter", lambda: backbone.train_adapter("a")),
        ("add_fusion", lambda: backbone.add_fusion(Fuse("a", "b"))),
        ("train_fusion", lambda: backbone.train_fusion(Fuse("a", "b"))),
        ("average_adapter", lambda: backbone.average_adapter("ab", ["a", "b"])),
        ("delete_adapter", lambda: backbone.delete_adapter("c")),
    ]
    for name, verb in verbs:
        owner.predict_function = owner.test_function = owner.train_function = stale
        owner.generate_function = stale
        verb()
        for kind in ("predict", "test", "train", "generate"):
            assert getattr(owner, f"{kind}_function") is not stale, (name, kind)


def test_evaluate_of_a_user_model_around_the_backbone_follows_the_switch():
    base = bert(num_layers=1)
    backbone = _two_adapters(base)
    x = inputs_for(base)
    model = keras.Model(backbone.input, backbone(backbone.input)["sequence_output"])
    model.compile(loss="mse", jit_compile=False)
    target_a = output_of(backbone, x)
    assert model.evaluate(x, target_a, verbose=0) < 1e-9  # traced with "a"
    backbone.set_active_adapters("b")
    target_b = output_of(backbone, x)
    assert np.mean((target_a - target_b) ** 2) > 1e-3
    assert model.evaluate(x, target_b, verbose=0) < 1e-9


def _classifier(backbone, optimizer):
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=optimizer, loss=loss, jit_compile=False)
    return model


def _snapshot(backbone, name):
    return [w.numpy().copy() for w in backbone.adapter_weights(name)]


def _changed(before, backbone, name):
    return any(not np.array_equal(b, w.numpy()) for b, w in zip(before, backbone.adapter_weights(name)))


def test_fit_follows_the_switch_and_asks_for_compile_when_trainables_change():
    base = bert(num_layers=1)
    backbone = _two_adapters(base)
    x, y = inputs_for(base), np.array([0, 1, 0, 1])
    # Plain SGD: an adapter that does not run gets no update at all.
    model = _classifier(backbone, keras.optimizers.SGD(0.1))
    backbone.set_trainable_adapters(["a", "b"])  # before the optimizer is built: no recompile
    model.fit(x, y, epochs=1, verbose=0)  # traced with "a"

    backbone.set_active_adapters("b")  # trainable weights unchanged: no recompile
    a, b = _snapshot(backbone, "a"), _snapshot(backbone, "b")
    model.fit(x, y, epochs=1, verbose=0)
    assert _changed(b, backbone, "b") and not _changed(a, backbone, "a")

    backbone.train_adapter("a")  # the optimizer was built for "a" and "b"
    a, b = _snapshot(backbone, "a"), _snapshot(backbone, "b")
    with pytest.raises(KerasAdaptersError, match=r"model\.compile\(\.\.\.\)` again"):
        model.fit(x, y, epochs=1, verbose=0)
    assert not _changed(a, backbone, "a") and not _changed(b, backbone, "b")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=model.loss, jit_compile=False)
    model.fit(x, y, epochs=1, verbose=0)
    assert _changed(a, backbone, "a") and not _changed(b, backbone, "b")


def test_task_predict_and_export_follow_the_switch(tmp_path):
    base = bert(num_layers=1)
    backbone = _two_adapters(base)
    x = inputs_for(base)
    model = PooledTextClassifier(backbone, 3)
    model.compile(jit_compile=False)
    with_a = model.predict(x, verbose=0)  # traced with "a"
    backbone.set_active_adapters("b")
    with_b = model.predict(x, verbose=0)
    eager_b = _numpy(model(x, training=False))
    assert np.abs(with_b - with_a).max() > 1e-3
    np.testing.assert_allclose(with_b, eager_b, atol=1e-5)

    # An export traces its serving function anew, so it followed the setup
    # before this fix too; this guards against caching it. Token-id inputs
    # only: an in-process load is a fair check of the numbers here.
    exported = export_saved_model(model, tmp_path, "task", sample_inputs=x)
    served = tf.saved_model.load(exported.path).signatures["serving_default"](
        **{key: tf.constant(value) for key, value in x.items()}
    )
    np.testing.assert_allclose(served["logits"].numpy(), eager_b, atol=1e-5)


def test_gpt2_generate_follows_the_switch():
    backbone = _two_adapters(gpt2(num_layers=1), scale=0.5)
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    lm.compile(sampler="greedy", jit_compile=False)
    prompt = {
        "token_ids": np.array([[5, 9, 3, 0, 0, 0, 0, 0], [7, 1, 0, 0, 0, 0, 0, 0]]),
        "padding_mask": np.array([[1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]]),
    }
    with_a = lm.generate(prompt, stop_token_ids=None)["token_ids"]  # traced with "a"
    backbone.set_active_adapters("b")
    with_b = lm.generate(prompt, stop_token_ids=None)["token_ids"]
    fresh = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    fresh.compile(sampler="greedy", run_eagerly=True)  # untraced reference
    np.testing.assert_array_equal(with_b, fresh.generate(prompt, stop_token_ids=None)["token_ids"])
    assert not np.array_equal(with_a, with_b)
