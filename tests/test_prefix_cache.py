"""The frozen-prefix cache: trains as without it, is never stale, exports the whole network.

Every test here can fail: the equivalence test compares two independent
training runs (a wrong split, stale or misordered states, or prefix dropout
would show), the key test changes one input at a time, the atomicity test
interrupts a disk write, and the refusal tests check the messages.
"""

import dataclasses
import json
import os

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from helpers import SEQ, VOCAB, bart, bert, inputs_for, make_tiny_preset
from keras_adapters import Parallel, add_adapters
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training import (
    TrainConfig,
    cache_frozen_prefix,
    disable_prefix_dropout,
    prefix_store,
    split_frozen_prefix,
    train_text_classifier,
)
from keras_adapters.tuning import AdapterHyperModel
from keras_adapters.tuning.text_classification import TuneConfig, tune_text_classifier

EXAMPLES = 24
BATCH = 8


def token_data(examples=EXAMPLES, seed=0, length=SEQ):
    rng = np.random.default_rng(seed)
    x = {
        "token_ids": rng.integers(1, VOCAB, (examples, length)).astype("int32"),
        "segment_ids": np.zeros((examples, length), "int32"),
        "padding_mask": np.ones((examples, length), "int32"),
    }
    x["padding_mask"][::2, -3:] = 0  # padding, so the cached mask matters
    return x, (x["token_ids"][:, 0] % 2).astype("int32")


def classifier(layers="top:1", bottleneck_size=4, num_layers=2):
    """A compiled classifier on a tiny BERT; the same base weights at every call."""
    keras.utils.set_random_seed(0)
    backbone = add_adapters(bert(num_layers=num_layers), "houlsby", layers=layers,
                            bottleneck_size=bottleneck_size, train_layer_norms=False)
    model = PooledTextClassifier(backbone, num_classes=2)
    model.compile(learning_rate=1e-2)
    return model


@pytest.fixture(scope="module")
def trained_pair():
    """One model trained without the cache, one with it: same seed, data order and dropout."""
    x, y = token_data()
    plain = classifier()
    disable_prefix_dropout(plain)
    initial = plain.get_weights()
    # Both see the examples in the order `shuffle(n, seed=5)` gives each epoch.
    shuffled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
        EXAMPLES, seed=5, reshuffle_each_iteration=True).batch(BATCH)
    plain.fit(shuffled, epochs=2, verbose=0, shuffle=False)

    cached = classifier()
    disable_prefix_dropout(cached)
    fast = cache_frozen_prefix(cached, seed=5)
    computations = prefix_store.computations
    fast.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH), epochs=2, verbose=0,
             validation_data=token_data(seed=1))
    trained = any(np.abs(a - b).max() > 1e-3 for a, b in zip(initial, plain.get_weights()))
    return plain, fast, x, y, trained, prefix_store.computations - computations


def test_training_with_the_cache_matches_training_without_it(trained_pair):
    plain, fast, x, _, trained, computations = trained_pair
    assert trained
    np.testing.assert_allclose(
        fast.task.predict_on_batch(x), plain.predict_on_batch(x), atol=1e-5)
    assert (fast.split.block, fast.last_cache.source, computations) == (1, "computed", 2)


def test_export_of_a_cache_trained_model_is_the_whole_network(trained_pair, tmp_path):
    _, fast, x, _, _, _ = trained_pair
    fast.export(str(tmp_path / "export"), verbose=False)  # the wrapper exports its task
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    inputs = sorted(serve.structured_input_signature[1])
    assert inputs == ["padding_mask", "segment_ids", "token_ids"]
    served = next(iter(serve(**{k: tf.constant(v) for k, v in x.items()}).values())).numpy()
    np.testing.assert_allclose(served, fast.task.predict(x, verbose=0), atol=1e-5)


def test_an_encoder_decoder_splits_exactly_in_its_decoder():
    # The other families (encoders with and without a pooler, decoders with a
    # final layer norm) split as BERT does above; the split of all eight was
    # checked the same way. BART is the one whose cached states include
    # another stack's output (the encoder's, read by the decoder blocks).
    adapted = add_adapters(bart(), "houlsby", layers="top:1",
                           bottleneck_size=4, train_layer_norms=False)
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in adapted.input}
    sequence = adapted(inputs)["decoder_sequence_output"]
    task = keras.Model(inputs, keras.layers.Dense(2)(sequence[:, 0]))
    task.backbone = adapted
    disable_prefix_dropout(task)
    split = split_frozen_prefix(task)
    assert (split.block, len(split.cached_names)) == (3, 2)  # decoder states + encoder output
    x = {k: tf.constant(v) for k, v in inputs_for(adapted).items()}
    cached = split.prefix(split.prefix_features(x))
    out = split.suffix({**cached, **{f: x[f] for f in split.feature_names}})
    np.testing.assert_allclose(out, task(x), atol=1e-6)


def test_the_key_changes_with_everything_the_states_depend_on():
    x, _ = token_data()
    model = classifier(num_layers=3)
    disable_prefix_dropout(model)
    split = split_frozen_prefix(model)
    key = prefix_store.prefix_cache_key(split, x)
    assert prefix_store.prefix_cache_key(split, dict(x)) == key

    # Another trial on the same prefix (other bottleneck, same blocks): same key.
    other_trial = classifier(bottleneck_size=2, num_layers=3)
    disable_prefix_dropout(other_trial)
    assert prefix_store.prefix_cache_key(split_frozen_prefix(other_trial), x) == key

    shorter, _ = token_data(length=SEQ - 2)
    keys = {
        "data": prefix_store.prefix_cache_key(split, dict(x, token_ids=x["token_ids"][::-1])),
        "sequence length": prefix_store.prefix_cache_key(split, shorter),
        "block": prefix_store.prefix_cache_key(split_frozen_prefix(model, block=1), x),
    }
    embedding = model.backbone.token_embedding.embeddings
    embedding.assign(embedding.numpy() + 1e-3)
    keys["base weights"] = prefix_store.prefix_cache_key(split, x)
    layer_norm = model.backbone.transformer_layers[0]._feedforward_layer_norm.gamma
    layer_norm.assign(layer_norm.numpy() * 2)
    keys["prefix layer norm"] = prefix_store.prefix_cache_key(split, x)
    assert len(set(keys.values()) | {key}) == len(keys) + 1, keys


def test_states_are_reused_by_later_fits_and_tuner_trials(trained_pair):
    _, fast, x, y, _, _ = trained_pair
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    fast.fit(train, epochs=1, verbose=0)  # recomputes only if another test cleared the cache
    computations = prefix_store.computations
    # A tuner trial on the same base, prefix and data (another bottleneck).
    keras.utils.set_random_seed(0)
    hypermodel = AdapterHyperModel(
        bert(), num_classes=2, bottleneck_sizes=[2], layers=["top:1"], adapter="houlsby",
        cache_frozen_prefix=True, seed=0)
    hp = keras_tuner.HyperParameters()
    trial = hypermodel.build(hp)
    assert trial.backbone.transformer_blocks[0]._self_attention_dropout.branch_dropout.rate == 0
    hypermodel.fit(hp, trial, train, epochs=1, verbose=0)
    fast.fit(train, epochs=1, verbose=0)
    assert (prefix_store.computations, fast.last_cache.source) == (computations, "memory")


def test_disk_cache_is_reused_and_never_half_written(tmp_path, monkeypatch):
    x, _ = token_data(seed=2)
    model = classifier()
    disable_prefix_dropout(model)
    split = split_frozen_prefix(model)
    key = prefix_store.prefix_cache_key(split, x)
    with pytest.raises(KerasAdaptersError, match="cache_dir"):
        prefix_store.prefix_states(split, x, key, memory_limit=0)

    # Interrupted after the first batch: nothing is left that could be read.
    real = split.prefix.predict_on_batch
    calls = []

    def fail_on_second_batch(batch):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(batch)

    monkeypatch.setattr(split.prefix, "predict_on_batch", fail_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        prefix_store.prefix_states(split, x, key, BATCH, tmp_path, memory_limit=0)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()

    written = prefix_store.prefix_states(split, x, key, BATCH, tmp_path, memory_limit=0)
    assert (written.source, written.location) == ("computed", str(tmp_path / key))
    with open(tmp_path / key / "manifest.json") as f:
        assert json.load(f)["key"] == key
    again = prefix_store.prefix_states(split, x, key, BATCH, tmp_path, memory_limit=0)
    assert again.source == "disk"
    expected = split.prefix.predict_on_batch(split.prefix_features(x))["frozen_prefix_0"]
    np.testing.assert_allclose(again.arrays["frozen_prefix_0"], expected, atol=1e-6)


def test_refusals():
    every_block = classifier(layers=None)
    with pytest.raises(KerasAdaptersError, match="no frozen prefix to cache"):
        disable_prefix_dropout(every_block)
    with pytest.raises(KerasAdaptersError, match="top:K"):
        cache_frozen_prefix(every_block)

    model = classifier()
    with pytest.raises(KerasAdaptersError, match=r"disable_prefix_dropout\(model\) first"):
        cache_frozen_prefix(model)
    disable_prefix_dropout(model)
    uncompiled = PooledTextClassifier(model.backbone, num_classes=2, compile=False)
    with pytest.raises(KerasAdaptersError, match="Compile"):
        cache_frozen_prefix(uncompiled)
    model.backbone.add_adapter("other", "houlsby", layers="top:1", bottleneck_size=2)
    model.backbone.set_active_adapters(Parallel("default", "other"))
    with pytest.raises(KerasAdaptersError, match="Parallel"):
        cache_frozen_prefix(model)

    class Subclassed(keras.Model):
        backbone = model.backbone

        def call(self, x):
            return self.backbone(x)

    with pytest.raises(KerasAdaptersError, match="functional task model"):
        split_frozen_prefix(Subclassed())


def test_train_and_tune_refuse_the_cache_without_a_frozen_prefix(tmp_path):
    words = ["good", "great", "fun", "bad", "awful", "dull", "the", "film"]
    preset = make_tiny_preset(tmp_path / "preset", words, num_layers=3)
    with open(tmp_path / "data.csv", "w") as f:
        f.write("text,label\n")
        f.writelines(f"the film was {words[i % 3]},good\nthe film was {words[3 + i % 3]},bad\n"
                     for i in range(16))
    config = TrainConfig(
        output_dir=str(tmp_path / "run"), preset=preset, dataset=f"csv:{tmp_path / 'data.csv'}",
        epochs=1, batch_size=8, sequence_length=8, bottleneck_size=4, cache_frozen_prefix=True)
    with pytest.raises(KerasAdaptersError, match="--layers top:K"):
        train_text_classifier(config, log=lambda message: None)
    assert not os.path.exists(config.output_dir)
    search = TuneConfig(output_dir=str(tmp_path / "search"), bottleneck_sizes=(4,),
                        train=dataclasses.replace(config, bottleneck_size=None))
    with pytest.raises(KerasAdaptersError, match="--layers top:K"):
        tune_text_classifier(search, log=lambda message: None)
    assert not os.path.exists(search.output_dir)
