"""The core on a non-TensorFlow Keras backend: a trimmed, fast selection.

`tests/test_backends.py` runs this file with pytest once per extra backend,
each in its own process (`KERAS_BACKEND=jax`, `KERAS_BACKEND=torch`): Keras
picks its backend at import, so one process runs one backend. The name does
not start with `test_`, so the TensorFlow suite does not collect it again.
By hand:

    KERAS_BACKEND=jax .venv/bin/python -m pytest -p no:cacheprovider -n 0 -o addopts= \
        -o python_files=backend_checks.py tests/backend_checks.py

Covered: AdapterLayer, surgery on every supported family, freezing and
training, the composition blocks, fusion, embedding adapters, `.keras` and
adapter-file round trips, traced functions that follow an adapter switch,
GPT-2 `generate`, the README's Python example, `keras-adapters
train/predict --backend` on a tiny run, and the clear errors (SavedModel
export, a backend switch in a process that runs Keras already). Two directories connect it to the
TensorFlow process that starts it (adapter files are backend-neutral):
`KA_FROM_TENSORFLOW` holds adapters saved there, which must reproduce its
outputs here; into `KA_FOR_TENSORFLOW` this process saves adapters and a
run directory trained here, for the TensorFlow side to check.
"""

import json
import os
import pathlib

import keras
import keras_hub
import numpy as np
import pytest

from keras_adapters import (
    AdapterLayer,
    PooledTextClassifier,
    add_adapters,
    load_adapters,
    load_task,
    save_adapters,
    supported_backbones,
)
from keras_adapters.composition import Average, BatchSplit, Fuse, Parallel, Stack
from keras_adapters.errors import KerasAdaptersError

from helpers import TINY_BACKBONES, bert, gpt2, inputs_for, make_tiny_preset

#: Where a cross-backend check reads or writes (see the module docstring).
FROM_TENSORFLOW = "KA_FROM_TENSORFLOW"
FOR_TENSORFLOW = "KA_FOR_TENSORFLOW"


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def sequence_output(backbone, x):
    """The (last) sequence output of any supported backbone, as numpy."""
    out = backbone(x, training=False)
    if isinstance(out, dict):
        out = out.get("sequence_output", out.get("decoder_sequence_output"))
    return numpy(out)


def perturb(backbone, name, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    for w in backbone.adapter_weights(name):
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))


def snapshot(weights):
    return [numpy(w).copy() for w in weights]


def tiny_classifier(backbone):
    model = PooledTextClassifier(backbone, 2, pooling="cls", dropout=0.0, compile=False)
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_runs_on_the_backend_it_was_started_for():
    assert keras.config.backend() == os.environ["KERAS_BACKEND"] != "tensorflow"


def test_adapter_layer_computes_the_bottleneck_formula():
    x = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")
    layer = AdapterLayer(4, activation="relu", init_scale=0.5, scaling=0.5)
    y = numpy(layer(x))
    down, up = layer.down_projection, layer.up_projection
    hidden = np.maximum(x @ numpy(down.kernel) + numpy(down.bias), 0)
    np.testing.assert_allclose(y, x + 0.5 * (hidden @ numpy(up.kernel) + numpy(up.bias)), atol=1e-5)
    assert np.abs(y - x).max() > 1e-3
    np.testing.assert_array_equal(numpy(AdapterLayer(4, initialization="zero_up")(x)), x)


@pytest.mark.parametrize("family", sorted(TINY_BACKBONES))
def test_surgery_starts_at_identity_and_trains_only_adapters(family):
    assert set(TINY_BACKBONES) == set(supported_backbones())
    original = TINY_BACKBONES[family](num_layers=1)
    x = inputs_for(original)
    expected = sequence_output(original, x)
    adapted = add_adapters(
        original, "houlsby", initialization="zero_up", bottleneck_size=4, train_layer_norms=False,
    )
    assert isinstance(adapted, type(original))
    np.testing.assert_array_equal(sequence_output(adapted, x), expected)
    paths = {w.path for w in adapted.trainable_weights}
    assert paths and all("_adapters/default/" in p for p in paths)
    perturb(adapted, "default", seed=1)
    assert np.abs(sequence_output(adapted, x) - expected).max() > 1e-3


@pytest.mark.parametrize("kind", ["lora", "ia3", "parallel"])
def test_projection_methods_start_at_identity_train_and_merge(kind):
    """LoRA, (IA)^3 and the parallel adapter live in projection slots (torch Modules here)."""
    keras.utils.set_random_seed(3)
    base = bert(num_layers=1)
    x = inputs_for(base)
    adapted = add_adapters(base, kind)
    np.testing.assert_array_equal(sequence_output(adapted, x), sequence_output(base, x))
    model = tiny_classifier(adapted)
    before = snapshot(adapted.adapter_weights("default"))
    model.fit(x, CASE_LABELS, batch_size=2, epochs=1, verbose=0)
    assert {w.path for w in adapted.trainable_weights} == {w.path for w in adapted.adapter_weights("default")}
    assert any(np.abs(a - numpy(w)).max() > 0 for a, w in zip(before, adapted.adapter_weights("default")))
    if kind != "parallel":  # linear: folds into the projections
        expected = sequence_output(adapted, x)
        adapted.merge_adapter("default")
        np.testing.assert_allclose(sequence_output(adapted, x), expected, atol=1e-5)


#: Labels of the 4 examples `new_case` makes.
CASE_LABELS = np.array([0, 1, 0, 1])


def new_case(seed):
    """A one-block BERT task with Houlsby adapters, and 4 examples: (base, model, x)."""
    keras.utils.set_random_seed(seed)
    base = bert(num_layers=1)
    return base, tiny_classifier(add_adapters(base, "houlsby", bottleneck_size=4)), inputs_for(base, seed=seed)


@pytest.fixture(scope="module")
def trained():
    """`new_case` fitted for 2 compiled steps, with its weights from before."""
    base, model, x = new_case(seed=7)
    trainable = {id(w) for w in model.trainable_weights}
    frozen = [w for w in model.weights if id(w) not in trainable]
    before = {"frozen": snapshot(frozen), "trainable": snapshot(model.trainable_weights)}
    model.fit(x, CASE_LABELS, batch_size=2, epochs=1, verbose=0)
    return {"base": base, "model": model, "x": x, "frozen": frozen, "before": before,
            "logits": model.predict(x, verbose=0)}


def test_fit_trains_adapters_and_layer_norms_and_leaves_frozen_weights_bit_identical(trained):
    model = trained["model"]
    for before, w in zip(trained["before"]["frozen"], trained["frozen"]):
        np.testing.assert_array_equal(numpy(w), before, err_msg=w.path)
    moved = {w.path for before, w in zip(trained["before"]["trainable"], model.trainable_weights)
             if not np.array_equal(numpy(w), before)}
    assert any("_adapters/default/" in p for p in moved)
    assert any("layer_norm" in p for p in moved) and any("logits" in p for p in moved)


def test_keras_file_round_trip_restores_adapters_frozen_state_and_optimizer(trained, tmp_path):
    model, x = trained["model"], trained["x"]
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(numpy(loaded(x, training=False)), trained["logits"], atol=1e-5)
    assert sorted(w.path for w in loaded.trainable_weights) == sorted(w.path for w in model.trainable_weights)
    assert int(numpy(loaded.optimizer.iterations)) == 2


def test_adapter_file_restores_the_task_on_the_base_its_clone_trained_from(trained, tmp_path):
    path = save_adapters(trained["model"], tmp_path / "task")
    # The base serves again after its clone was fitted: on JAX, a traced
    # function deletes the buffers it is given, which a clone must not share.
    restored = load_task(trained["base"], path)
    np.testing.assert_allclose(numpy(restored(trained["x"], training=False)), trained["logits"], atol=1e-5)
    fresh = add_adapters(trained["base"], config=path)
    load_adapters(fresh, path, include_head=False)
    np.testing.assert_array_equal(
        sequence_output(fresh, trained["x"]), sequence_output(restored.backbone, trained["x"])
    )


def test_adapters_trained_here_are_saved_for_tensorflow(trained):
    """Writes what tests/test_backends.py loads on TensorFlow (see `read_cross_backend_case`)."""
    write_cross_backend_case(
        _cross_backend_dir(FOR_TENSORFLOW), trained["base"], trained["model"], trained["x"]
    )


@pytest.fixture
def two_adapters():
    """A one-block BERT with adapters "a" and "b" (random weights) and inputs."""
    base = bert(num_layers=1)
    backbone = add_adapters(base, "pfeiffer", name="a", bottleneck_size=4)
    backbone.add_adapter("b", "pfeiffer", bottleneck_size=4)
    perturb(backbone, "a", seed=1)
    perturb(backbone, "b", seed=2)
    return backbone, inputs_for(base)


def test_composition_blocks_compute_their_definitions(two_adapters):
    backbone, _ = two_adapters
    slot = backbone.transformer_layers[0]._feedforward_dropout
    h = np.random.default_rng(0).normal(size=(2, 8, 16)).astype("float32")
    a, b = (lambda t: numpy(slot.adapters["a"](t))), (lambda t: numpy(slot.adapters["b"](t)))
    expected = [
        (Stack("a", "b"), b(a(h))),
        (Average("a", "b", weights=[0.25, 0.75]), 0.25 * a(h) + 0.75 * b(h)),
        (BatchSplit("a", "b", batch_sizes=[1, 1]), np.concatenate([a(h[:1]), b(h[1:])])),
    ]
    for setup, want in expected:
        backbone.set_active_adapters(setup)
        np.testing.assert_allclose(numpy(slot(h, training=False)), want, atol=1e-5, err_msg=repr(setup))


def test_parallel_runs_every_example_through_every_adapter(two_adapters):
    backbone, x = two_adapters
    outputs = {}
    for setup in ("a", "b", Parallel("a", "b")):
        backbone.set_active_adapters(setup)
        outputs[str(setup)] = sequence_output(backbone, x)
    both = outputs[str(Parallel("a", "b"))]
    np.testing.assert_allclose(both, np.concatenate([outputs["a"], outputs["b"]]), atol=1e-5)


def test_fusion_attends_over_adapters_and_trains_alone(two_adapters):
    backbone, _ = two_adapters
    backbone.add_fusion(Fuse("a", "b"))
    backbone.train_fusion(Fuse("a", "b"))
    paths = {w.path for w in backbone.trainable_weights}
    assert paths and all("/a_b/" in p for p in paths)
    slot = backbone.transformer_layers[0]._feedforward_dropout
    h = np.random.default_rng(0).normal(size=(2, 8, 16)).astype("float32")
    fusion = slot.fusions[("a", "b")]
    want = fusion(h, [slot.adapters["a"](h), slot.adapters["b"](h)])
    np.testing.assert_allclose(numpy(slot(h, training=False)), numpy(want), atol=1e-5)


def test_embedding_adapter_sits_on_the_embedding_output():
    base = bert()
    x = inputs_for(base)
    adapted = add_adapters(
        base, "pfeiffer", name="emb", placements=("embedding",), initialization="zero_up",
        bottleneck_size=4, train_layer_norms=False,
    )
    np.testing.assert_array_equal(sequence_output(adapted, x), sequence_output(base, x))
    assert {w.path.split("/")[0] for w in adapted.trainable_weights} == {"embedding_adapters"}
    perturb(adapted, "emb", seed=3)
    assert np.abs(sequence_output(adapted, x) - sequence_output(base, x)).max() > 1e-3


def test_traced_predict_follows_an_adapter_switch(two_adapters):
    backbone, x = two_adapters
    eager = {}
    for name in ("a", "b"):
        backbone.set_active_adapters(name)
        eager[name] = sequence_output(backbone, x)
    for name in ("a", "b", "a"):
        backbone.set_active_adapters(name)
        np.testing.assert_allclose(
            backbone.predict(x, verbose=0)["sequence_output"], eager[name], atol=1e-5, err_msg=name
        )


def test_refused_fit_leaves_the_model_usable(two_adapters):
    backbone, x = two_adapters
    backbone.set_trainable_adapters(["a", "b"])
    model = tiny_classifier(backbone)
    model.optimizer.build(model.trainable_variables)  # as the first fit does
    model.predict(x, verbose=0)  # traced: the backbone now watches this model
    backbone.train_adapter("a")  # not what the optimizer was built for
    before = snapshot(model.weights)
    # On JAX, fit has taken the weights out of the model when the check runs.
    with pytest.raises(KerasAdaptersError, match=r"model\.compile\(\.\.\.\)` again"):
        model.fit(x, np.array([0, 1, 0, 1]), batch_size=4, epochs=1, verbose=0)
    for want, w in zip(before, model.weights):
        np.testing.assert_array_equal(numpy(w), want, err_msg=w.path)


def greedy_continuation(lm, token_ids, start):
    """Greedy tokens from `start` on, by the functional (uncached) forward pass."""
    token_ids = token_ids.copy()
    for position in range(start, token_ids.shape[1]):
        logits = numpy(lm({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}))
        token_ids[:, position] = logits[:, position - 1].argmax(-1)
    return token_ids


def test_gpt2_generate_runs_the_adapters():
    backbone = add_adapters(gpt2(num_layers=1), "houlsby", initialization="zero_up", bottleneck_size=4)
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    lm.compile(sampler="greedy")
    prompt = {"token_ids": np.array([[5, 9, 3, 0, 0, 0]]), "padding_mask": np.array([[1, 1, 1, 0, 0, 0]])}
    full = {"token_ids": prompt["token_ids"], "padding_mask": np.ones_like(prompt["token_ids"])}
    unadapted = numpy(lm(full))
    perturb(backbone, "default", seed=5, scale=1.0)
    assert np.abs(numpy(lm(full)) - unadapted).max() > 1e-2
    adapted = greedy_continuation(lm, prompt["token_ids"], 3)
    # generate (compiled, cached: `call_with_cache`) runs the adapters as the
    # functional model does.
    np.testing.assert_array_equal(numpy(lm.generate(prompt, stop_token_ids=None)["token_ids"]), adapted)


def test_saved_model_export_says_it_needs_tensorflow(tmp_path):
    from keras_adapters.export import export_saved_model

    model = tiny_classifier(add_adapters(bert(num_layers=1), bottleneck_size=4))
    with pytest.raises(KerasAdaptersError, match="needs the TensorFlow backend.*KERAS_BACKEND=tensorflow"):
        export_saved_model(model, tmp_path, "task")
    assert not os.listdir(tmp_path)


def test_readme_python_example_runs_here(tmp_path, monkeypatch):
    """What a new user does first: the README's Python example, on this backend."""
    # The TensorFlow suite's own test, run in this process (not collected here under this name).
    from test_readme import test_readme_python_example_runs as run_readme_example

    run_readme_example(tmp_path, monkeypatch)


#: The CLI run's words, texts to predict, and where `KA_FOR_TENSORFLOW` holds it.
CLI_WORDS = "good great fun lovely superb bad awful boring dull poor the a movie film plot was".split()
CLI_TEXTS = ["the movie was good and fun", "the plot was dull and awful"]
CLI_RUN = "run"


def _write_cli_dataset(path):
    rows = [f"the movie was {CLI_WORDS[i % 5]} and {CLI_WORDS[(i + 1) % 5]},pos" if i % 2 else
            f"the film was {CLI_WORDS[5 + i % 5]} and {CLI_WORDS[5 + (i + 2) % 5]},neg" for i in range(44)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return f"csv:{path}"


def test_cli_trains_and_predicts_on_this_backend():
    """`--backend` runs the commands here; the run is saved for the TensorFlow side."""
    from click.testing import CliRunner

    from keras_adapters.training import load_run
    from keras_adapters_launcher import main

    backend = keras.config.backend()
    target = _cross_backend_dir(FOR_TENSORFLOW)
    preset = make_tiny_preset(os.path.join(target, "preset"), CLI_WORDS)
    dataset = _write_cli_dataset(pathlib.Path(target) / "data.csv")
    out = os.path.join(target, CLI_RUN)
    runner = CliRunner()
    trained = runner.invoke(main, [
        "train", "--backend", backend, "--preset", preset, "--dataset", dataset, "--output-dir", out,
        "--epochs", "1", "--batch-size", "8", "--sequence-length", "16", "--bottleneck", "4",
    ])
    assert trained.exit_code == 0, trained.output
    with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
        assert json.load(f)["backend"] == backend
    # (`evaluate` takes the same option; leaving it out here saves a model build and trace.)
    predicted = runner.invoke(main, ["predict", "--backend", backend, out, *CLI_TEXTS])
    assert predicted.exit_code == 0, predicted.output
    assert all(text in predicted.output for text in CLI_TEXTS)
    _, probabilities = load_run(out).predict_texts(CLI_TEXTS)
    np.save(os.path.join(target, "cli_probabilities.npy"), probabilities)


def test_cli_refuses_a_backend_switch_in_a_process_running_keras(tmp_path):
    from click.testing import CliRunner

    from keras_adapters_launcher import main

    backend = keras.config.backend()
    refused = CliRunner().invoke(main, ["predict", "--backend", "tensorflow", str(tmp_path), "a text"])
    assert refused.exit_code == 1
    assert f"already imported in this process on the {backend!r} backend" in refused.output
    assert "Traceback" not in refused.output


def _cross_backend_dir(variable):
    path = os.environ.get(variable)
    if not path:
        pytest.fail(f"{variable} is not set: run this file through tests/test_backends.py.")
    return path


def test_adapters_saved_on_tensorflow_reproduce_its_outputs_here():
    logits, expected = read_cross_backend_case(_cross_backend_dir(FROM_TENSORFLOW))
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=0)


def write_cross_backend_case(target, base, model, x):
    """Saves `base` as a preset, `model`'s adapter and head, inputs and logits under `target`."""
    base.save_to_preset(os.path.join(target, "base"))
    save_adapters(model, os.path.join(target, "task"))
    logits = numpy(model(x, training=False))
    np.savez(os.path.join(target, "case.npz"), logits=logits, **x)


def read_cross_backend_case(source):
    """Rebuilds a case written by `write_cross_backend_case`: (logits here, logits there)."""
    base = keras_hub.models.Backbone.from_preset(os.path.join(source, "base"))
    model = load_task(base, os.path.join(source, "task"))
    case = np.load(os.path.join(source, "case.npz"))
    inputs = {key: case[key] for key in case if key != "logits"}
    return numpy(model(inputs, training=False)), case["logits"]
