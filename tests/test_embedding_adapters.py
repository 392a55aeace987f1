"""Embedding adaptation: an adapter on the embedding output ("embedding" placement)."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_adapters import add_adapters, load_adapters, save_adapters
from keras_adapters.composition import BatchSplit
from keras_adapters.saving import read_adapter_file

from helpers import bart, bert, gpt2, inputs_for, opt, output_of

EMBEDDING_ONLY = dict(placements=("embedding",), bottleneck_size=4, train_layer_norms=False)


def _randomize(backbone, name, seed=1, scale=0.3):
    rng = np.random.default_rng(seed)
    for w in backbone.adapter_weights(name):
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_embedding_adapter_sits_between_embeddings_and_first_block():
    base = bert()
    adapted = add_adapters(base, "houlsby", name="emb", **EMBEDDING_ONLY)
    assert [(i, p) for i, p, _ in adapted.adapter_layers("emb")] == [(0, "embedding")]
    _randomize(adapted, "emb")
    x = inputs_for(base)

    # By hand: the original's embedding output, plus the adapter's residual
    # branch, then the original's (untouched) transformer blocks.
    embedded = keras.Model(base.inputs, base.get_layer("embeddings_dropout").output)(x, training=False)
    adapter = adapted.adapter_layers("emb")[0][2]
    h = embedded + adapter.up_projection(keras.activations.gelu(adapter.down_projection(embedded)))
    for block in base.transformer_layers:
        h = block(h, padding_mask=x["padding_mask"], training=False)
    np.testing.assert_allclose(output_of(adapted, x), _numpy(h), atol=1e-5)
    assert np.abs(output_of(adapted, x) - output_of(base, x)).max() > 1e-2

    # Deactivated: the original outputs exactly.
    adapted.set_active_adapters(None)
    np.testing.assert_array_equal(output_of(adapted, x), output_of(base, x))


def test_embedding_adapter_trains_alone_and_zero_up_starts_at_identity():
    base = bert()
    adapted = add_adapters(base, "houlsby", name="emb", initialization="zero_up", **EMBEDDING_ONLY)
    x = inputs_for(base)
    np.testing.assert_array_equal(output_of(adapted, x), output_of(base, x))
    trainable = [w.path for w in adapted.trainable_weights]
    assert trainable and all(p.startswith("embedding_adapters/emb/") for p in trainable), trainable

    classifier = keras_hub.models.BertTextClassifier(adapted, num_classes=2, preprocessor=None)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    before = {w.path: w.numpy().copy() for w in adapted.weights}
    classifier.fit(x, np.array([0, 1, 0, 1]), epochs=2, verbose=0)
    changed = {w.path for w in adapted.weights if not np.array_equal(before[w.path], w.numpy())}
    assert changed and all(p.startswith("embedding_adapters/emb/") for p in changed), changed


def test_gpt2_generation_runs_the_embedding_adapter():
    backbone = add_adapters(gpt2(), "pfeiffer", name="emb", **EMBEDDING_ONLY)
    _randomize(backbone, "emb", scale=0.5)
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    prompt = {"token_ids": np.array([[5, 9, 3, 0, 0, 0]]), "padding_mask": np.array([[1, 1, 1, 0, 0, 0]])}
    cached, _ = lm._build_cache(keras.ops.convert_to_tensor(prompt["token_ids"]))
    functional = backbone(prompt, training=False)
    np.testing.assert_allclose(_numpy(cached)[:, :3], _numpy(functional)[:, :3], atol=1e-4)

    backbone.set_active_adapters(None)
    plain, _ = lm._build_cache(keras.ops.convert_to_tensor(prompt["token_ids"]))
    assert np.abs(_numpy(cached) - _numpy(plain)).max() > 1e-2


def test_bart_has_one_embedding_adapter_per_stack():
    adapted = add_adapters(bart(), "pfeiffer", name="emb", **EMBEDDING_ONLY)
    # Two encoder then two decoder blocks: the decoder's embeddings feed block 2.
    assert [(i, p) for i, p, _ in adapted.adapter_layers("emb")] == [(0, "embedding"), (2, "embedding")]
    assert {w.path.split("/")[0] for w in adapted.trainable_weights} == {
        "encoder_embedding_adapters", "decoder_embedding_adapters",
    }


def test_embedding_adapter_composes_saves_and_reloads(tmp_path):
    base = bert()
    backbone = add_adapters(base, "houlsby", name="a", placements=("embedding", "feedforward"), bottleneck_size=4)
    backbone.add_adapter("b", "houlsby", **EMBEDDING_ONLY)
    _randomize(backbone, "a", seed=1)
    _randomize(backbone, "b", seed=2)
    x = inputs_for(base, batch=4)

    # BatchSplit routes rows through the embedding slot too.
    backbone.set_active_adapters("a")
    only_a = output_of(backbone, x)
    backbone.set_active_adapters("b")
    only_b = output_of(backbone, x)
    backbone.set_active_adapters(BatchSplit("a", "b", batch_sizes=[1, 3]))
    split = output_of(backbone, x)
    np.testing.assert_allclose(split[:1], only_a[:1], atol=1e-5)
    np.testing.assert_allclose(split[1:], only_b[1:], atol=1e-5)

    # Adapter files carry the embedding adapter under its own key.
    path = save_adapters(backbone, tmp_path / "a", name="a")
    assert read_adapter_file(path)["adapter_config"].placements == ("embedding", "feedforward")
    fresh = add_adapters(base, config=path, name="a")
    load_adapters(fresh, path)
    np.testing.assert_array_equal(output_of(fresh, x), only_a)

    # `.keras` round trip keeps both adapters and the setup.
    backbone.set_active_adapters("b")
    backbone.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(output_of(reloaded, x), only_b)
    assert reloaded.adapter_names == ("a", "b")


def test_backbone_without_embedding_dropout_refuses_clearly():
    with pytest.raises(ValueError, match="OPTBackbone has no embedding dropout.*'attention' and/or 'feedforward'"):
        add_adapters(opt(), "pfeiffer", **EMBEDDING_ONLY)
