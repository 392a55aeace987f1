"""Backbone surgery: cloning, placement, freezing, training, generation."""

import keras
import keras_hub
import numpy as np
import pytest

import keras_adapters
from keras_adapters import AdaptedBackbone, add_adapters, count_parameters
from keras_adapters.layers import AdapterSlot
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery import management
from keras_adapters.surgery.adapter_checks import validate_adapter_name

from helpers import bert, distil_bert, electra, gpt2, inputs_for, opt, output_of, roberta, xlm_roberta

FAMILIES = {"bert": bert, "gpt2": gpt2, "roberta": roberta, "distil_bert": distil_bert, "opt": opt}


@pytest.mark.parametrize("family", FAMILIES)
def test_clone_is_same_family_and_identical_at_zero_init(family):
    original = FAMILIES[family]()
    x = inputs_for(original)
    before = output_of(original, x)
    adapted = add_adapters(original, "houlsby", initialization="zero_up")
    assert isinstance(adapted, type(original))
    assert isinstance(adapted, AdaptedBackbone)
    assert adapted is not original
    np.testing.assert_array_equal(output_of(adapted, x), before)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_houlsby_init_is_close_to_original(family):
    original = FAMILIES[family]()
    x = inputs_for(original)
    adapted = add_adapters(original, "houlsby")
    diff = np.abs(output_of(adapted, x) - output_of(original, x)).max()
    assert 0 < diff < 1e-2


def test_original_backbone_is_untouched():
    original = bert()
    x = inputs_for(original)
    weights = [w.copy() for w in original.get_weights()]
    out = output_of(original, x)
    adapted = add_adapters(original, "houlsby", initialization="houlsby", init_scale=0.5)
    # Train the clone a little; the original must not move.
    for w in adapted.trainable_weights:
        w.assign(w + 1.0)
    assert not isinstance(original, AdaptedBackbone)
    for block in original.transformer_layers:
        assert isinstance(block._self_attention_dropout, keras.layers.Dropout)
        assert not isinstance(block._self_attention_dropout, AdapterSlot)
    assert all(w.trainable for w in original.weights)
    for a, b in zip(weights, original.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(output_of(original, x), out)
    assert np.abs(output_of(adapted, x) - out).max() > 1e-3


def test_every_block_gets_both_adapters_at_houlsby_position():
    adapted = add_adapters(bert(num_layers=3), "houlsby", bottleneck_size=5)
    layers = adapted.adapter_layers("default")
    assert [(i, p) for i, p, _ in layers] == [
        (i, p) for i in range(3) for p in ("attention", "feedforward")
    ]
    assert all(layer.bottleneck_size == 5 for _, _, layer in layers)


def _perturb(adapted, name="default", scale=0.3, seed=1):
    rng = np.random.default_rng(seed)
    for w in adapted.adapter_weights(name):
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))


def _adapter(block, placement):
    return block._self_attention_dropout.adapters["default"] if placement == "attention" else block._feedforward_dropout.adapters["default"]


def test_post_ln_block_computes_houlsby_formula():
    """BERT (post-LN): y = LN(h + A(FFN(h))), h = LN(x + A(MHA(x)))."""
    adapted = add_adapters(bert(num_layers=1), "houlsby")
    _perturb(adapted)
    block = adapted.transformer_layers[0]
    x = np.random.default_rng(0).normal(size=(2, 8, 16)).astype("float32")
    attn = block._self_attention_layer(x, x, training=False)
    h = block._self_attention_layer_norm(x + _adapter(block, "attention")(attn))
    ffn = block._feedforward_output_dense(block._feedforward_intermediate_dense(h))
    expected = block._feedforward_layer_norm(h + _adapter(block, "feedforward")(ffn))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(block(x, training=False)),
        keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-5,
    )


def test_pre_ln_block_computes_houlsby_formula():
    """GPT-2 (pre-LN): h = x + A(MHA(LN(x))), y = h + A(FFN(LN(h)))."""
    adapted = add_adapters(gpt2(num_layers=1), "houlsby")
    _perturb(adapted)
    block = adapted.transformer_layers[0]
    x = np.random.default_rng(0).normal(size=(2, 8, 16)).astype("float32")
    mask = np.tril(np.ones((8, 8), bool))[None].repeat(2, 0)
    n = block._self_attention_layer_norm(x)
    h = x + _adapter(block, "attention")(
        block._self_attention_layer(n, n, attention_mask=mask, training=False)
    )
    n = block._feedforward_layer_norm(h)
    ffn = block._feedforward_output_dense(block._feedforward_intermediate_dense(n))
    expected = h + _adapter(block, "feedforward")(ffn)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(block(x, training=False)),
        keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-5,
    )


def test_frozen_state_houlsby_vs_pfeiffer():
    houlsby = add_adapters(bert(), "houlsby", bottleneck_size=4)
    paths = {w.path for w in houlsby.trainable_weights}
    assert all("_adapters/default/" in p or "layer_norm" in p for p in paths)
    assert any("layer_norm" in p for p in paths)
    assert not any("pooled_dense" in p or "embedding/" in p for p in paths)
    pfeiffer = add_adapters(bert(), "pfeiffer", bottleneck_size=4)
    paths = {w.path for w in pfeiffer.trainable_weights}
    assert paths and all("feedforward_adapters/default/" in p for p in paths)
    # 2 blocks x (16*4 + 4 + 4*16 + 16)
    assert count_parameters(pfeiffer).trainable == 2 * 148


def test_layer_subset():
    adapted = add_adapters(bert(num_layers=3), "pfeiffer", bottleneck_size=4, layers=[2])
    assert [i for i, _, _ in adapted.adapter_layers("default")] == [2]
    assert not adapted.transformer_layers[0]._feedforward_dropout.adapters


def test_task_head_stays_trainable_and_fit_trains_only_adapters():
    backbone = add_adapters(bert(), "houlsby", bottleneck_size=8, initialization="zero_up")
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    x = inputs_for(backbone, batch=16)
    y = (x["token_ids"][:, 0] > 32).astype("int32")  # learnable from token 0
    classifier.compile(
        optimizer=keras.optimizers.AdamW(3e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    trainable = {id(w) for w in classifier.trainable_weights}
    assert any("logits" in w.path for w in classifier.trainable_weights)
    before = {id(w): w.numpy().copy() for w in classifier.weights}
    history = classifier.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    for w in classifier.weights:
        changed = not np.array_equal(before[id(w)], w.numpy())
        if id(w) in trainable:
            if "_adapters/" in w.path and "kernel" in w.path:
                assert changed, w.path
        else:
            assert not changed, f"frozen weight {w.path} changed"
    assert count_parameters(classifier).trainable_share < 0.5


def test_gpt2_generate_uses_adapters():
    backbone = add_adapters(gpt2(), "houlsby", initialization="zero_up")
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    plain = keras_hub.models.GPT2CausalLM(backbone=gpt2(), preprocessor=None)
    lm.compile(sampler="greedy")
    plain.compile(sampler="greedy")
    plain.backbone.set_weights(
        [w.numpy() for w in backbone.weights if "_adapters/" not in w.path]
    )
    prompt = {"token_ids": np.array([[5, 9, 3, 0, 0, 0, 0, 0]]), "padding_mask": np.array([[1, 1, 1, 0, 0, 0, 0, 0]])}
    # Zero-initialised adapters: generation equals the unadapted model's.
    np.testing.assert_array_equal(
        lm.generate(prompt, stop_token_ids=None)["token_ids"],
        plain.generate(prompt, stop_token_ids=None)["token_ids"],
    )
    # The cached path (call_with_cache, used by generate) runs the adapters:
    # its hidden states equal the functional forward pass with adapters.
    _perturb(backbone, scale=0.5)
    token_ids = prompt["token_ids"]
    cached_hidden, _ = lm._build_cache(keras.ops.convert_to_tensor(token_ids))
    functional_hidden = backbone(prompt, training=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(cached_hidden)[:, :3],
        keras.ops.convert_to_numpy(functional_hidden)[:, :3], rtol=1e-4, atol=1e-4,
    )
    plain_hidden, _ = plain._build_cache(keras.ops.convert_to_tensor(token_ids))
    assert np.abs(keras.ops.convert_to_numpy(cached_hidden - plain_hidden)).max() > 1e-2
    lm.generate_function = None  # retrace with the new adapter weights
    changed = lm.generate(prompt, stop_token_ids=None)["token_ids"]
    assert not np.array_equal(changed, plain.generate(prompt, stop_token_ids=None)["token_ids"])


def test_same_name_twice_is_an_error_other_name_adds_second():
    adapted = add_adapters(bert(), "pfeiffer", name="task_a", bottleneck_size=4)
    with pytest.raises(ValueError, match="already has an adapter named 'task_a'"):
        add_adapters(adapted, "pfeiffer", name="task_a")
    _perturb(adapted, "task_a")
    both = add_adapters(adapted, "houlsby", name="task_b", bottleneck_size=6)
    assert both.adapter_names == ("task_a", "task_b")
    assert both.active_adapters == ("task_b",) and both.trainable_adapters == ("task_b",)
    # task_a's trained weights were copied and are frozen.
    for a, b in zip(adapted.adapter_weights("task_a"), both.adapter_weights("task_a")):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert not b.trainable
    assert all("task_b" in w.path or "layer_norm" in w.path for w in both.trainable_weights)


def test_deactivating_adapters_restores_original_outputs():
    original = bert()
    x = inputs_for(original)
    adapted = add_adapters(original, "houlsby")
    _perturb(adapted)
    assert np.abs(output_of(adapted, x) - output_of(original, x)).max() > 1e-3
    adapted.set_active_adapters(None)
    np.testing.assert_array_equal(output_of(adapted, x), output_of(original, x))
    with pytest.raises(ValueError, match="Unknown adapter name.*'nope'"):
        adapted.set_active_adapters(["nope"])


def test_unsupported_backbone_names_supported_ones():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(TypeError, match="BertBackbone.*GPT2Backbone"):
        add_adapters(model)
    albert = keras_hub.models.AlbertBackbone(
        vocabulary_size=32, num_layers=2, num_heads=2, embedding_dim=8,
        hidden_dim=16, intermediate_dim=32, max_sequence_length=8,
    )
    with pytest.raises(TypeError, match="AlbertBackbone"):
        add_adapters(albert)
    assert "BertBackbone" in keras_adapters.supported_backbones()


def test_invalid_adapter_name():
    backbone = add_adapters(bert(num_layers=1), name="ok", bottleneck_size=4)
    for name in ["no spaces please", "trailing_newline\n", "1st", "", "x" * 65, None]:
        with pytest.raises(KerasAdaptersError, match="Invalid adapter name"):
            validate_adapter_name(name)
        with pytest.raises(KerasAdaptersError, match="Invalid adapter name"):
            backbone.add_adapter(name, "pfeiffer", bottleneck_size=4)
    assert backbone.adapter_names == ("ok",)
    validate_adapter_name("x" * 64)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_backbone(policy):
    original = bert(dtype=policy)
    x = inputs_for(original)
    adapted = add_adapters(original, "houlsby", initialization="zero_up")
    _, _, layer = adapted.adapter_layers("default")[0]
    assert layer.dtype_policy.name == policy
    assert layer.down_projection.kernel.dtype == "float32"
    np.testing.assert_array_equal(output_of(adapted, x), output_of(original, x))


def test_variable_paths_are_unique():
    adapted = add_adapters(add_adapters(bert(), name="a"), name="b")
    paths = [w.path for w in adapted.weights]
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize("factory", [xlm_roberta, electra], ids=["xlm_roberta", "electra"])
def test_listed_encoders_build_as_identity_with_only_adapters_trainable(factory):
    original = factory()
    x = inputs_for(original)
    adapted = add_adapters(
        original, "houlsby", initialization="zero_up", bottleneck_size=4, train_layer_norms=False,
        placements=("embedding", "attention", "feedforward"),
    )
    assert isinstance(adapted, type(original)) and isinstance(adapted, AdaptedBackbone)
    np.testing.assert_array_equal(output_of(adapted, x), output_of(original, x))
    placements = [(i, p) for i, p, _ in adapted.adapter_layers("default")]
    assert placements == [(0, "embedding")] + [(i, p) for i in range(2) for p in ("attention", "feedforward")]
    trainable = {id(w) for w in adapted.trainable_weights}
    assert trainable == {id(w) for w in adapted.adapter_weights("default")}
    _perturb(adapted)
    assert np.abs(output_of(adapted, x) - output_of(original, x)).max() > 1e-3


def _cached_step_logits(lm, token_ids):
    """Logits of `call_with_cache` fed one token at a time (as `generate` does)."""
    backbone = lm.backbone
    batch, length = token_ids.shape
    head_dim = backbone.hidden_dim // backbone.num_heads
    cache = keras.ops.zeros((batch, backbone.num_layers, 2, length, backbone.num_heads, head_dim))
    steps = []
    for index in range(length):
        logits, _, cache = lm.call_with_cache(token_ids[:, index:index + 1], cache, index)
        steps.append(keras.ops.convert_to_numpy(logits))
    return np.concatenate(steps, axis=1)


@pytest.mark.parametrize("placements", [("attention", "feedforward"), ("embedding",)])
def test_gpt2_cached_one_token_steps_match_the_uncached_forward_pass(placements):
    base = gpt2(num_layers=1)
    adapted = add_adapters(base, "pfeiffer", bottleneck_size=4, placements=placements)
    _perturb(adapted, scale=0.5)
    token_ids = np.random.default_rng(0).integers(1, 64, (2, 5)).astype("int32")
    inputs = {"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}
    results = {}
    for name, backbone in (("adapted", adapted), ("plain", base)):
        lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
        uncached = keras.ops.convert_to_numpy(lm(inputs, training=False))
        cached = _cached_step_logits(lm, token_ids)
        np.testing.assert_allclose(cached, uncached, atol=1e-5, err_msg=name)
        results[name] = cached
    # The steps ran the adapter: they differ from the unadapted model's.
    assert np.abs(results["adapted"] - results["plain"]).max() > 1e-2


def test_bottleneck_far_wider_than_the_hidden_size_is_refused_before_allocation(monkeypatch):
    base = bert(num_layers=1)  # hidden size 16: bottlenecks up to 64
    assert add_adapters(base, bottleneck_size=64).get_adapter_config("default").bottleneck_size == 64

    def no_allocation(*args, **kwargs):
        raise AssertionError("an AdapterLayer was created before the range check")

    backbone = add_adapters(base, "pfeiffer", name="a", bottleneck_size=4)
    monkeypatch.setattr(management, "AdapterLayer", no_allocation)
    for overrides in (dict(bottleneck_size=100000), dict(bottleneck_size=65), dict(reduction_factor=0.2)):
        with pytest.raises(KerasAdaptersError, match="hidden size is 16.*at most 64"):
            add_adapters(base, "pfeiffer", **overrides)
    with pytest.raises(KerasAdaptersError, match="bottleneck 100000 .*hidden size is 16.*at most 64"):
        backbone.add_adapter("wide", "pfeiffer", bottleneck_size=100000)
    assert backbone.adapter_names == ("a",)
