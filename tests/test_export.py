"""SavedModel export for TF Serving, checked with TensorFlow's C++ loader."""

import json
import os
import shutil
import urllib.request

import keras
import keras_hub
import numpy as np
import pytest
from click.testing import CliRunner

from keras_adapters import add_adapters, load_adapters, save_adapters
from keras_adapters.cli.main import main
from keras_adapters.export import (
    check_export,
    export_saved_model,
    grpc_predict_request,
    read_export_metadata,
    rest_request_body,
    tokenize_for_serving,
)
from keras_adapters.tasks import PooledTextClassifier

from helpers import bert, gpt2, inputs_for, make_tiny_preset, tf_model_server

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "a good bad movie film plot was the".split()


def _perturb(model, seed=3):
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(w.numpy() + rng.normal(scale=0.1, size=w.shape).astype("float32"))


@pytest.fixture(scope="module")
def classifier():
    model = PooledTextClassifier(add_adapters(bert(vocabulary_size=len(VOCABULARY)), bottleneck_size=4), 3)
    _perturb(model)
    return model


@pytest.fixture(scope="module")
def preprocessor():
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY)
    return keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8)


@pytest.fixture(scope="module")
def sentiment_export(classifier, preprocessor, tmp_path_factory):
    """One export of the classifier on tokenized sample texts, shared read-only."""
    sample = tokenize_for_serving(preprocessor, ["a good movie", "the plot was bad"])
    base = tmp_path_factory.mktemp("serving")
    exported = export_saved_model(classifier, base, "sentiment", sample_inputs=sample,
                                  metadata={"label_names": ["a", "b", "c"]})
    return base, sample, exported


def _copy_of(exported, tmp_path):
    """A copy of an export version directory, to tamper with."""
    copy = tmp_path / "tampered" / "1"
    shutil.copytree(exported.path, copy)
    return str(copy)


def test_classifier_export_layout_signature_and_cpp_check(classifier, sentiment_export):
    base, sample, exported = sentiment_export
    assert exported.path == os.path.join(base, "sentiment", "1")
    assert sorted(os.listdir(base / "sentiment")) == ["1"]
    assert os.path.isfile(base / "sentiment" / "1" / "saved_model.pb")
    assert os.path.isdir(base / "sentiment" / "1" / "variables")
    signature = exported.signatures["serving_default"]
    assert signature["inputs"] == {
        name: {"dtype": "int32", "shape": [-1, -1]} for name in ("padding_mask", "segment_ids", "token_ids")
    }
    assert signature["outputs"] == {
        "logits": {"dtype": "float32", "shape": [-1, 3]},
        "probabilities": {"dtype": "float32", "shape": [-1, 3]},
    }
    assert read_export_metadata(exported.path)["metadata"] == {"label_names": ["a", "b", "c"]}

    result = check_export(exported.path)
    assert result.passed, result.problems
    assert result.loaded and result.ran
    assert result.max_abs_diff <= 1e-5
    assert result.unregistered_ops == []
    assert result.report["tags"] == ["serve"]
    assert not any(result.report["python_modules"].values())  # no TF Python in the checker
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(classifier.predict(sample, verbose=0)))
    assert result.report["runs"]["serving_default"]["outputs"]["probabilities"] == list(expected.shape)


def test_check_export_fails_when_a_variable_in_the_export_changed(classifier, sentiment_export, tmp_path):
    """The C++ loader computes with the export's own variables, and check_export compares numbers."""
    import tensorflow as tf

    path = _copy_of(sentiment_export[2], tmp_path)
    prefix = os.path.join(path, "variables", "variables")
    reader = tf.train.load_checkpoint(prefix)
    names = sorted(reader.get_variable_to_shape_map())
    values = {name: reader.get_tensor(name) for name in names}
    head_bias = next(w for w in classifier.weights if tuple(w.shape) == (3,)).numpy()
    # The checkpoint may hold the bias under several object paths: change each.
    targets = [name for name, value in values.items()
               if np.shape(value) == (3,) and np.array_equal(value, head_bias)]
    assert targets
    for name in targets:
        values[name] = values[name] + np.array([1.0, 0.0, 0.0], "float32")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[values[name] for name in names])

    result = check_export(path)
    assert result.loaded and result.ran and not result.passed
    # The first logit moved by exactly the bias change; Keras' recorded outputs did not.
    assert result.max_abs_diff == pytest.approx(1.0, abs=1e-4)
    assert "serving_default.logits differs from Keras by 1 (more than 1e-05)" in result.problems


def test_check_export_holds_every_output_to_the_tolerance_and_shape(sentiment_export, tmp_path):
    path = _copy_of(sentiment_export[2], tmp_path)
    outputs_file = os.path.join(path, "assets.extra", "sample_outputs.npz")
    with np.load(outputs_file) as data:
        keras_outputs = {key: data[key].astype("float64") for key in data.files}
    logits = keras_outputs["serving_default.logits"]

    def check_against(changes):
        np.savez(outputs_file, **{**keras_outputs, **changes})
        return check_export(path)

    within = check_against({"serving_default.logits": logits + 5e-6})
    assert within.passed, within.problems
    assert 4e-6 < within.max_abs_diff <= 1e-5

    beyond = check_against({
        "serving_default.logits": logits + 2e-5,
        # Broadcasts against the (2, 3) outputs: equal values, wrong shape.
        "serving_default.probabilities": keras_outputs["serving_default.probabilities"][None],
    })
    assert not beyond.passed
    assert beyond.max_abs_diff == pytest.approx(2e-5, abs=1e-6)
    assert len(beyond.problems) == 2, beyond.problems
    assert beyond.problems[0].startswith("serving_default.logits differs from Keras by 2")
    assert beyond.problems[0].endswith("(more than 1e-05)")
    assert beyond.problems[1] == "serving_default.probabilities has shape (2, 3); Keras gave (1, 2, 3)"


def test_versions_increment_and_are_not_overwritten(classifier, tmp_path):
    first = export_saved_model(classifier, tmp_path, "m")
    second = export_saved_model(classifier, tmp_path, "m")
    assert (first.version, second.version) == (1, 2)
    with pytest.raises(FileExistsError, match="Version 2 already exists"):
        export_saved_model(classifier, tmp_path, "m", version=2)
    replaced = export_saved_model(classifier, tmp_path, "m", version=2, overwrite=True)
    assert replaced.version == 2
    result = check_export(replaced.path)  # the replacement is a complete, loadable export
    assert result.passed, result.problems
    assert export_saved_model(classifier, tmp_path, "m", version=7).version == 7
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2", "7"]
    with pytest.raises(ValueError, match="positive int"):
        export_saved_model(classifier, tmp_path, "m", version=0)
    with pytest.raises(ValueError, match="Invalid model name"):
        export_saved_model(classifier, tmp_path, "../escape")


def test_interrupted_export_leaves_no_version_directory(classifier, tmp_path, monkeypatch):
    from keras_adapters.export import version_directory

    def crash(export_dir):
        assert os.path.isfile(os.path.join(export_dir, "saved_model.pb"))  # files are on disk ...
        raise KeyboardInterrupt  # ... when Ctrl-C arrives

    monkeypatch.setattr(version_directory, "_serve_meta_graph", crash)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(classifier, tmp_path, "m")
    assert os.listdir(tmp_path / "m") == []  # nothing a polling server could load


def test_tokenizer_in_graph_is_flagged_by_the_op_audit(classifier, preprocessor, tmp_path):
    exported = export_saved_model(classifier, tmp_path, "text", preprocessor=preprocessor,
                                  text_signature=True)
    assert exported.signatures["serving_text"]["inputs"] == {"text": {"dtype": "string", "shape": [-1]}}
    result = check_export(exported.path)
    assert not result.passed
    assert any("Wordpiece" in op or "RegexSplit" in op for op in result.unregistered_ops)
    assert any("stock TF Serving may lack" in problem for problem in result.problems)
    # The false pass the bare process avoids: this process imported keras_hub,
    # which registered tensorflow-text's ops, so TF Python loads and runs it.
    import tensorflow as tf

    served = tf.saved_model.load(exported.path).signatures["serving_text"](text=tf.constant(["a good movie"]))
    assert served["probabilities"].shape == (1, 3)


def test_gpt2_causal_lm_export(tmp_path):
    lm = keras_hub.models.GPT2CausalLM(add_adapters(gpt2(), bottleneck_size=4), preprocessor=None)
    _perturb(lm.backbone)
    exported = export_saved_model(lm, tmp_path, "lm")
    assert exported.kind == "causal_lm"
    assert exported.signatures["serving_default"]["outputs"] == {
        "logits": {"dtype": "float32", "shape": [-1, -1, 64]}
    }
    result = check_export(exported.path)
    assert result.passed, result.problems


def test_model_reloaded_from_adapter_files_exports(classifier, tmp_path):
    path = save_adapters(classifier, tmp_path / "adapter")
    base = keras_hub.models.BertBackbone(**{
        k: v for k, v in classifier.backbone.get_config().items()
        if k not in ("adapters", "active_adapters", "trainable_adapters")
    })
    base.set_weights([w.numpy() for w in classifier.backbone.weights if "_adapters/" not in w.path])
    fresh = PooledTextClassifier(add_adapters(base, config=path), 3)
    load_adapters(fresh, path)
    x = inputs_for(base)
    x["token_ids"] = x["token_ids"] % len(VOCABULARY)
    # (Rounding-level differences only: the fixture's predict function may run
    # through XLA after earlier tests.)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), classifier.predict(x, verbose=0), atol=1e-5)
    result = check_export(export_saved_model(fresh, tmp_path / "exports", "reloaded").path)
    assert result.passed, result.problems


def test_check_rejects_foreign_directories(tmp_path):
    with pytest.raises(ValueError, match="not an export version directory"):
        check_export(tmp_path)


def test_cli_export_and_check(tmp_path):
    from test_cli import WORDS  # a tiny preset and CSV, as in the CLI tests

    preset = make_tiny_preset(tmp_path / "preset", WORDS, num_layers=1)
    csv = tmp_path / "data.csv"
    csv.write_text("text,label\n" + "".join(
        f"the movie was {WORDS[i % 10]},{'pos' if i % 10 < 5 else 'neg'}\n" for i in range(30)
    ))
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(main, ["train", "--preset", preset, "--dataset", f"csv:{csv}",
                                  "--output-dir", str(run), "--epochs", "1", "--batch-size", "8",
                                  "--sequence-length", "16"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", str(run), "--base-path", str(tmp_path / "serving"),
                                  "--name", "sentiment"])
    assert result.exit_code == 0, result.output
    version = tmp_path / "serving" / "sentiment" / "1"
    assert "check-export" in result.output and str(version) in result.output
    result = runner.invoke(main, ["check-export", str(version)])
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output
    result = runner.invoke(main, ["export", str(run), "--base-path", str(tmp_path / "serving"),
                                  "--name", "sentiment", "--version", "1"])
    assert result.exit_code == 1 and "already exists" in result.output


def test_rest_and_grpc_request_helpers(preprocessor):
    features = tokenize_for_serving(preprocessor, ["a good movie", "bad plot"])
    assert {k: v.dtype for k, v in features.items()} == {
        "token_ids": np.int32, "padding_mask": np.int32, "segment_ids": np.int32,
    }
    rows = rest_request_body(features)
    assert len(rows["instances"]) == 2 and rows["signature_name"] == "serving_default"
    assert rows["instances"][0]["token_ids"] == features["token_ids"][0].tolist()
    columns = rest_request_body(features, format="inputs")
    assert columns["inputs"]["padding_mask"] == features["padding_mask"].tolist()
    json.dumps(rows), json.dumps(columns)
    with pytest.raises(ValueError, match="instances"):
        rest_request_body(features, format="rows")
    request = grpc_predict_request(features, "sentiment", version=3)
    assert request.model_spec.name == "sentiment" and request.model_spec.version.value == 3
    assert list(request.inputs["token_ids"].tensor_shape.dim[1:2])[0].size == 8


@pytest.mark.skipif(
    shutil.which("tensorflow_model_server") is None,
    reason="no tensorflow_model_server binary on PATH (none can be installed here); "
    "check_export covers loading with TensorFlow's C++ SavedModel loader",
)
def test_real_tf_serving_rest_predict(classifier, preprocessor, tmp_path):
    features = tokenize_for_serving(preprocessor, ["a good movie", "the plot was bad"])
    export_saved_model(classifier, tmp_path, "sentiment", sample_inputs=features)
    with tf_model_server("sentiment", tmp_path / "sentiment") as url:
        expected = keras.ops.convert_to_numpy(classifier.predict(features, verbose=0))
        for body_format, key in (("instances", "predictions"), ("inputs", "outputs")):
            body = json.dumps(rest_request_body(features, format=body_format)).encode()
            request = urllib.request.Request(url + ":predict", data=body, method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())[key]
            logits = (
                np.array([row["logits"] for row in answer]) if body_format == "instances"
                else np.array(answer["logits"])
            )
            np.testing.assert_allclose(logits, expected, atol=1e-5)
