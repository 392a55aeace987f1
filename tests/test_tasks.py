"""The tasks as KerasHub tasks: preprocessor, the `compile("auto")` recipe,
mixed precision, `.keras` round trips, unchanged adapter files."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest

from keras_adapters import add_adapters, save_adapters
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.tasks import PooledTextClassifier, TokenClassifier
from keras_adapters.training import recipe
from keras_adapters.training import TrainConfig

from helpers import bert, inputs_for

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "a good great bad dull film plot".split()
TEXTS = ["a good film", "a great plot", "a bad film", "a dull plot"] * 4
LABELS = np.array([1, 1, 0, 0] * 4)


def _preprocessor():
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY)
    return keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8)


def _classifier(preprocessor=None):
    backbone = add_adapters(bert(vocabulary_size=len(VOCABULARY)), bottleneck_size=4)
    return PooledTextClassifier(backbone, 2, preprocessor=preprocessor)


def _schedule_config(model):
    return model.optimizer.get_config()["learning_rate"]["config"]


def test_task_with_preprocessor_fits_and_predicts_raw_strings_as_their_tokens():
    keras.utils.set_random_seed(0)
    on_strings = _classifier(_preprocessor())
    keras.utils.set_random_seed(0)
    on_tokens = _classifier()
    assert isinstance(on_strings, keras_hub.models.TextClassifier)
    tokens = {k: np.asarray(v) for k, v in on_strings.preprocessor(TEXTS).items()}
    for model in (on_strings, on_tokens):
        model.compile(learning_rate=1e-2, run_eagerly=True)  # eager: no tracing, faster here
    history = on_strings.fit(TEXTS, LABELS, batch_size=8, epochs=1, verbose=0).history
    # KerasHub's pipeline batches in order: the same batches as unshuffled tokens.
    expected = on_tokens.fit(tokens, LABELS, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert {k: pytest.approx(v) for k, v in history.items()} == expected
    for trained, reference in zip(on_strings.weights, on_tokens.weights):
        np.testing.assert_allclose(trained.numpy(), reference.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        on_strings.predict(TEXTS[:4], verbose=0), on_tokens(
            {k: v[:4] for k, v in tokens.items()}, training=False), atol=1e-6)


def test_auto_compile_is_the_train_recipe():
    defaults = TrainConfig()
    assert (recipe.LEARNING_RATE, recipe.WEIGHT_DECAY, recipe.WARMUP_FRACTION, defaults.schedule) == (
        defaults.learning_rate, defaults.weight_decay, defaults.warmup_fraction, "linear")
    model = _classifier()
    model.compile(total_steps=40)  # what `train` passes, with its defaults
    assert type(model.optimizer) is keras.optimizers.AdamW
    assert float(model.optimizer.weight_decay) == 0.01
    assert _schedule_config(model) == {"peak_learning_rate": 1e-3, "total_steps": 40, "warmup_steps": 4}
    model.compile(learning_rate=2e-3, total_steps=40, warmup_fraction=0.25)
    rates = []
    for step in (0, 5, 10, 25, 40):
        model.optimizer.iterations.assign(step)
        rates.append(round(float(model.optimizer.learning_rate), 7))
    assert rates == [0.0, 1e-3, 2e-3, 1e-3, 0.0]
    loss = model.loss
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy) and loss.from_logits
    assert [m["config"]["name"] for m in model.get_compile_config()["metrics"]] == ["accuracy"]

    # No total_steps: a constant rate (what the construction-time compile uses).
    model.compile(learning_rate=5e-4, schedule="auto")
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-4)

    # Weight decay on kernels, none on biases and layer-norm scales/offsets.
    model.compile(learning_rate=0.1, weight_decay=0.5, schedule="constant")
    names = ("kernel", "bias", "gamma", "beta")
    variables = [keras.Variable(np.ones(3, "float32"), name=name) for name in names]
    model.optimizer.apply_gradients([(np.zeros(3, "float32"), v) for v in variables])
    assert [round(float(v.numpy()[0]), 6) for v in variables] == [0.95, 1.0, 1.0, 1.0]


def test_auto_compile_errors_and_token_metrics():
    model = _classifier()
    with pytest.raises(KerasAdaptersError, match="configure the 'auto' optimizer only"):
        model.compile(optimizer="sgd", learning_rate=1e-2)
    with pytest.raises(KerasAdaptersError, match="needs `total_steps`"):
        model.compile(schedule="linear")
    with pytest.raises(KerasAdaptersError, match="`schedule` must be one of"):
        model.compile(schedule="cosine", total_steps=10)
    with pytest.raises(KerasAdaptersError, match="`warmup_fraction` must be in"):
        model.compile(total_steps=10, warmup_fraction=1.0)
    # Token accuracy counts only the positions the sample weight keeps.
    tokens = TokenClassifier(add_adapters(bert(), bottleneck_size=4), 3)
    tokens.compile(run_eagerly=True)
    x = inputs_for(tokens.backbone, batch=2)
    y = np.zeros((2, 8), "int32")
    weight = np.zeros((2, 8), "float32")
    weight[:, 1] = 1.0
    predicted = keras.ops.convert_to_numpy(tokens(x, training=False)).argmax(-1)
    y[:, 1] = (predicted[:, 1] + 1) % 3  # wrong where it counts, right elsewhere
    result = tokens.evaluate(x, y, sample_weight=weight, verbose=0, return_dict=True)
    assert result["accuracy"] == 0.0


def test_head_follows_a_mixed_precision_backbone():
    backbone = add_adapters(bert(dtype="mixed_float16"), bottleneck_size=4)
    for model, head in ((PooledTextClassifier(backbone, 2), ("mean_pooling", "head_dropout")),
                        (PooledTextClassifier(backbone, 2, pooling="cls"), ("cls_pooling",)),
                        (TokenClassifier(backbone, 3), ("head_dropout",))):
        assert [model.get_layer(name).dtype_policy.name for name in head] == ["mixed_float16"] * len(head)
        assert model.layers[-1].dtype_policy.name == "float32"  # the logits
        assert keras.ops.convert_to_numpy(model(inputs_for(backbone))).dtype == np.float32


def test_keras_round_trip_without_preprocessor_restores_the_compiled_recipe(tmp_path):
    model = PooledTextClassifier(add_adapters(bert(), bottleneck_size=4), 2, pooling="cls")
    # Unchanged config: the task record of adapter files stays as it was.
    assert set(model.get_config()) == {"name", "trainable", "backbone", "num_classes", "pooling", "dropout"}
    model.compile(learning_rate=1e-2, total_steps=10, run_eagerly=True)
    x = inputs_for(model.backbone, batch=8)
    model.fit(x, np.arange(8) % 2, batch_size=4, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is PooledTextClassifier and loaded.preprocessor is None
    np.testing.assert_array_equal(loaded(x), model(x))
    assert _schedule_config(loaded) == {"peak_learning_rate": 1e-2, "total_steps": 10, "warmup_steps": 1}
    assert int(loaded.optimizer.iterations) == 2
    for restored, trained in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(restored.numpy(), trained.numpy())
    # The weight-decay exclusions survive the reload: with Adam's moments
    # zeroed, a zero-gradient step only decays, and never the bias.
    for variable in loaded.optimizer.variables:
        if variable is not loaded.optimizer.iterations:
            variable.assign(keras.ops.zeros_like(variable))
    kernel, bias = (w.numpy() for w in loaded.get_layer("logits").weights)
    loaded.optimizer.apply_gradients([(keras.ops.zeros_like(w), w) for w in loaded.trainable_variables])
    assert np.all(np.abs(loaded.get_layer("logits").kernel.numpy()) < np.abs(kernel))
    np.testing.assert_array_equal(loaded.get_layer("logits").bias.numpy(), bias)


def test_keras_round_trip_with_preprocessor(tmp_path):
    model = _classifier(_preprocessor())
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.preprocessor, keras_hub.models.BertTextClassifierPreprocessor)
    tokens, reloaded_tokens = model.preprocessor(TEXTS[:4]), loaded.preprocessor(TEXTS[:4])
    for name in ("token_ids", "segment_ids", "padding_mask"):  # the vocabulary came back
        np.testing.assert_array_equal(reloaded_tokens[name], tokens[name])
    np.testing.assert_array_equal(loaded(reloaded_tokens), model(tokens))


def test_adapter_file_head_keys_and_task_record_are_unchanged(tmp_path):
    cases = ((_classifier(), ["head/0/logits/kernel", "head/1/logits/bias"]),
             (TokenClassifier(add_adapters(bert(), bottleneck_size=4), 3),
              ["head/0/token_logits/kernel", "head/1/token_logits/bias"]))
    for index, (model, head_keys) in enumerate(cases):
        path = save_adapters(model, tmp_path / str(index))
        with open(os.path.join(path, "adapter_config.json"), encoding="utf-8") as f:
            document = json.load(f)
        assert sorted(k for k in document["tensors"] if k.startswith("head/")) == head_keys
        assert "preprocessor" not in document["task"]["config"]


def test_fit_on_a_dataset_keeps_its_order_without_keras_shuffle_warning():
    import warnings

    import tensorflow as tf

    model = _classifier()
    model.compile(learning_rate=1e-2, run_eagerly=True)
    tokens = {k: np.asarray(v) for k, v in _preprocessor()(TEXTS).items()}
    dataset = tf.data.Dataset.from_tensor_slices((tokens, LABELS)).batch(8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(dataset, epochs=1, verbose=0)
    assert not [w for w in caught if "shuffle" in str(w.message)]
