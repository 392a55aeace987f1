import keras
import numpy as np
import pytest

from keras_adapters import AdapterLayer


def test_zero_up_is_exact_identity():
    x = np.random.default_rng(0).normal(size=(2, 5, 32)).astype("float32")
    layer = AdapterLayer(8, initialization="zero_up")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)


def test_houlsby_init_is_near_identity_but_not_exact():
    x = np.random.default_rng(0).normal(size=(2, 5, 32)).astype("float32")
    layer = AdapterLayer(8, initialization="houlsby", init_scale=1e-3)
    diff = np.abs(keras.ops.convert_to_numpy(layer(x)) - x).max()
    assert 0 < diff < 1e-3
    kernel = keras.ops.convert_to_numpy(layer.down_projection.kernel)
    assert np.abs(kernel).max() <= 2e-3  # truncated at 2 std
    assert 5e-4 < kernel.std() < 1.5e-3


def test_bottleneck_computation_matches_formula():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 6)).astype("float32")
    layer = AdapterLayer(2, activation="relu", scaling=0.5)
    layer.build(x.shape)
    w1, b1 = rng.normal(size=(6, 2)), rng.normal(size=(2,))
    w2, b2 = rng.normal(size=(2, 6)), rng.normal(size=(6,))
    layer.down_projection.set_weights([w1, b1])
    layer.up_projection.set_weights([w2, b2])
    expected = x + 0.5 * (np.maximum(x @ w1 + b1, 0) @ w2 + b2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_parameter_count_and_shapes():
    layer = AdapterLayer(4)
    layer.build((None, None, 10))
    assert layer.down_projection.kernel.shape == (10, 4)
    assert layer.up_projection.kernel.shape == (4, 10)
    assert layer.count_params() == 10 * 4 + 4 + 4 * 10 + 10


def test_dropout_only_in_training():
    x = np.ones((4, 3, 16), "float32")
    layer = AdapterLayer(64, initialization="houlsby", init_scale=0.5, dropout=0.5)
    eval_a = keras.ops.convert_to_numpy(layer(x, training=False))
    eval_b = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(eval_a, eval_b)
    train = keras.ops.convert_to_numpy(layer(x, training=True))
    assert not np.allclose(train, eval_a)


def test_serialization_round_trip():
    layer = AdapterLayer(
        8, activation="silu", initialization="zero_up", init_scale=0.02,
        dropout=0.1, scaling=2.0, name="my_adapter",
    )
    config = layer.get_config()
    clone = AdapterLayer.from_config(config)
    assert clone.get_config() == config
    serialized = keras.layers.serialize(layer)
    assert serialized["registered_name"] == "keras_adapters>AdapterLayer"
    restored = keras.layers.deserialize(serialized)
    assert isinstance(restored, AdapterLayer) and restored.scaling == 2.0


def test_keras_model_save_load_round_trip(tmp_path):
    inputs = keras.Input((5, 12))
    outputs = AdapterLayer(3, initialization="houlsby", init_scale=0.3)(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(2, 5, 12)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_policy(policy):
    layer = AdapterLayer(4, dtype=policy)
    x = keras.ops.cast(np.ones((2, 3, 8)), layer.compute_dtype)
    y = layer(x)
    assert layer.compute_dtype == policy.split("_")[1]
    assert keras.backend.standardize_dtype(y.dtype) == policy.split("_")[1]
    assert all(w.dtype == "float32" for w in layer.weights)


def test_mixed_precision_global_policy():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = AdapterLayer(4)
        y = layer(keras.ops.ones((1, 2, 8), "bfloat16"))
        assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
        assert layer.down_projection.kernel.dtype == "float32"
    finally:
        keras.config.set_dtype_policy("float32")


def test_masks_pass_through():
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
    adapted = AdapterLayer(2)(embedded)
    assert adapted._keras_mask is not None
    ids = np.array([[1, 2, 0, 0]])
    embedding = keras.layers.Embedding(10, 8, mask_zero=True)
    layer = AdapterLayer(2)
    mask = embedding.compute_mask(ids)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.compute_mask(embedding(ids), mask)),
        [[True, True, False, False]],
    )


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(bottleneck_size=0), "bottleneck_size"),
        (dict(bottleneck_size=-3), "bottleneck_size"),
        (dict(bottleneck_size=4, activation="softmaxx"), "activation"),
        (dict(bottleneck_size=4, initialization="random"), "initialization"),
        (dict(bottleneck_size=4, dropout=1.0), "dropout"),
    ],
)
def test_invalid_arguments(kwargs, field):
    with pytest.raises(ValueError, match=field):
        AdapterLayer(**kwargs)
