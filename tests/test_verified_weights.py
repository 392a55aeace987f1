"""Saved adapters are verified on load: digest, structure, finite values, task record, run.json."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
import safetensors.numpy
from click.testing import CliRunner

from keras_adapters import AdapterConfig, add_adapters, load_adapters, load_task, save_adapters
from keras_adapters.cli.main import main
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.pretrained import backbone_fingerprint, load_backbone, load_preprocessor
from keras_adapters.saving import read_adapter_weights
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training import (
    RunError,
    TrainConfig,
    load_run,
    write_run_directory,
)

from helpers import bert, make_tiny_preset
from test_saving import rewrite_adapter_weights

WEIGHTS = "adapter_weights.safetensors"
CONFIG = "adapter_config.json"
WORDS = "good great fun bad awful dull the a movie film".split()


def _task(base, num_classes=3):
    return PooledTextClassifier(add_adapters(base, "pfeiffer", bottleneck_size=4), num_classes)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A base backbone and a task saved from it, once per module."""
    base = bert()
    return base, save_adapters(_task(base), tmp_path_factory.mktemp("saved") / "task")


@pytest.fixture
def task(saved, tmp_path):
    """`(base, path)`: a fresh copy of the saved task, free to damage."""
    base, path = saved
    return base, str(shutil.copytree(path, tmp_path / "task"))


def _edit_document(path, change):
    config_path = os.path.join(path, CONFIG)
    with open(config_path, encoding="utf-8") as f:
        document = json.load(f)
    change(document)
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(document, f)


def _weights(path):
    return safetensors.numpy.load_file(os.path.join(path, WEIGHTS))


# --------------------------------------------------------------------------
# The digest.


def test_save_records_the_digest_of_the_weights_file(task):
    _, path = task
    with open(os.path.join(path, CONFIG), encoding="utf-8") as f:
        document = json.load(f)
    with open(os.path.join(path, WEIGHTS), "rb") as f:
        assert document["weights_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert document["format_version"] == 2


def test_flipped_bytes_are_refused_and_nothing_is_loaded(task):
    base, path = task
    weights_path = os.path.join(path, WEIGHTS)
    with open(weights_path, "r+b") as f:  # flip bytes in the tensor data, not the header
        f.seek(-40, os.SEEK_END)
        data = f.read(32)
        f.seek(-40, os.SEEK_END)
        f.write(bytes(b ^ 0xFF for b in data))
    model = PooledTextClassifier(add_adapters(base, config=path), 3)
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(KerasAdaptersError, match="does not match the sha256 digest") as error:
        load_adapters(model, path)
    assert weights_path in str(error.value) and CONFIG in str(error.value)
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(weight.numpy(), value)
    with pytest.raises(KerasAdaptersError, match="sha256"):
        load_task(base, path)


@pytest.mark.parametrize("keep", [0, 7, -12], ids=["empty", "header-cut", "data-cut"])
@pytest.mark.parametrize("with_digest", [True, False])
def test_truncated_weights_file_gives_an_error_naming_it(task, keep, with_digest):
    base, path = task
    if not with_digest:  # a format-1 file: the parse itself must fail cleanly
        _edit_document(path, lambda d: (d.pop("weights_sha256"), d.update(format_version=1)))
    weights_path = os.path.join(path, WEIGHTS)
    with open(weights_path, "rb") as f:
        data = f.read()
    with open(weights_path, "wb") as f:
        f.write(data[:keep])
    expected = "sha256" if with_digest else "not a valid safetensors file"
    with pytest.raises(KerasAdaptersError, match=expected) as error:
        load_task(base, path)
    assert weights_path in str(error.value)


def test_format_1_files_without_digest_load_with_the_other_checks(task):
    # Written before digests existed: accepted (see the module docstring).
    base, path = task
    _edit_document(path, lambda d: (d.pop("weights_sha256"), d.update(format_version=1)))
    assert isinstance(load_task(base, path), PooledTextClassifier)
    _edit_document(path, lambda d: d.update(format_version=2))
    with pytest.raises(KerasAdaptersError, match="weights_sha256.*missing"):
        load_task(base, path)


# --------------------------------------------------------------------------
# What the weights file holds.


def test_nan_in_the_head_is_refused_on_load(task):
    base, path = task
    tensors = _weights(path)
    head_bias = max(key for key in tensors if key.startswith("head/"))
    tensors[head_bias][0] = np.nan
    rewrite_adapter_weights(path, tensors)  # digest re-recorded: only the values are wrong
    with pytest.raises(KerasAdaptersError, match="NaN or infinite") as error:
        load_task(base, path)
    assert head_bias in str(error.value) and WEIGHTS in str(error.value)


def test_nan_weights_are_refused_on_save(saved, tmp_path):
    model = _task(saved[0])
    kernel = model.get_layer("logits").kernel
    kernel.assign(np.full(kernel.shape, np.inf, "float32"))
    with pytest.raises(KerasAdaptersError, match="NaN or infinite.*logits") as error:
        save_adapters(model, tmp_path / "task")
    assert "nothing was written" in str(error.value)
    assert not os.listdir(tmp_path)


def test_tensor_listing_and_dtype_must_match_the_file(task):
    _, path = task
    key = sorted(_weights(path))[0]
    _edit_document(path, lambda d: d["tensors"].update({key: [1, 1]}))
    with pytest.raises(KerasAdaptersError, match=f"tensor {key} has shape"):
        read_adapter_weights(path)
    tensors = _weights(path)
    tensors[key] = tensors[key].astype("float16")
    rewrite_adapter_weights(path, tensors)
    with pytest.raises(KerasAdaptersError, match="dtype float16, not float32"):
        read_adapter_weights(path)


# --------------------------------------------------------------------------
# The task record must match the head it describes.


def test_has_head_false_is_refused_not_a_random_head(task):
    base, path = task
    _edit_document(path, lambda d: d.update(has_head=False))
    with pytest.raises(KerasAdaptersError, match="has_head=False, but the file holds head/"):
        load_task(base, path)
    # Consistently stripped of its head: the task record has nothing to restore.
    tensors = {k: a for k, a in _weights(path).items() if not k.startswith("head/")}
    rewrite_adapter_weights(path, tensors)
    with pytest.raises(KerasAdaptersError, match="no head weights.*random"):
        load_task(base, path)


def test_num_classes_must_match_the_head(task):
    base, path = task
    _edit_document(path, lambda d: d["task"]["config"].update(num_classes=5))
    with pytest.raises(KerasAdaptersError, match="num_classes is 5, but no head tensor has 5"):
        load_task(base, path)



def _add_head_tensor(path):
    """A consistent file whose head has one tensor more than its task builds."""
    tensors = _weights(path)
    tensors["head/9/extra/bias"] = np.zeros((3,), "float32")
    rewrite_adapter_weights(path, tensors)


def test_head_the_task_record_builds_must_be_the_one_saved(task):
    base, path = task
    _add_head_tensor(path)
    with pytest.raises(KerasAdaptersError, match=r"builds head tensors \[\(16, 3\), \(3,\)\]"):
        load_task(base, path)


def test_failed_load_task_leaves_a_shared_backbone_as_it_was(task):
    base, path = task
    _add_head_tensor(path)
    shared = add_adapters(base, "pfeiffer", bottleneck_size=4, name="other")
    with pytest.raises(KerasAdaptersError, match="does not match the head weights"):
        load_task(shared, path)
    assert shared.adapter_names == ("other",)


# --------------------------------------------------------------------------
# JSON files that are truncated or edited.


def test_truncated_adapter_json_names_the_file(task):
    _, path = task
    config_path = os.path.join(path, CONFIG)
    with open(config_path, encoding="utf-8") as f:
        text = f.read()
    with open(config_path, "w", encoding="utf-8") as f:
        f.write(text[: len(text) // 2])
    for read in (read_adapter_weights, AdapterConfig.get):
        with pytest.raises(KerasAdaptersError, match="not valid JSON") as error:
            read(path)
        assert config_path in str(error.value)
    _edit_document_text = '{"format": "keras-adapters/adapter", "format_version": 2}'
    with open(config_path, "w", encoding="utf-8") as f:
        f.write(_edit_document_text)
    with pytest.raises(KerasAdaptersError, match="damaged or was edited.*adapter_name"):
        read_adapter_weights(path)


# --------------------------------------------------------------------------
# Run directories: run.json must agree with the adapter file.


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A complete run directory on a tiny random preset (no training)."""
    work = tmp_path_factory.mktemp("run")
    preset = make_tiny_preset(work / "preset", WORDS)
    with open(work / "train.csv", "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for i in range(10):
            f.write(f"a good film {i},pos\na dull movie {i},neg\n")
    config = TrainConfig(
        output_dir=str(work / "run"), preset=preset, dataset=f"csv:{work / 'train.csv'}",
        sequence_length=16, pooling="mean", head_dropout=0.1,
    )
    data = config.load_data()
    base = load_backbone(preset)
    model = PooledTextClassifier(
        add_adapters(base, "pfeiffer", bottleneck_size=4), len(data.label_names),
        pooling=config.pooling, dropout=config.head_dropout,
    )
    write_run_directory(
        config, model, data, load_preprocessor(preset, 16), backbone_fingerprint(base),
        best_epoch=1, history=[],
    )
    return config.output_dir


@pytest.fixture
def run_dir(tiny_run, tmp_path):
    return shutil.copytree(tiny_run, tmp_path / "run")


def _edit_run(run_dir, change):
    run_file = os.path.join(run_dir, "run.json")
    with open(run_file, encoding="utf-8") as f:
        info = json.load(f)
    change(info)
    with open(run_file, "w", encoding="utf-8") as f:
        json.dump(info, f)


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda info: info.update(label_names=["pos", "neg"]), "label_names"),
        (lambda info: info["config"].update(pooling="cls"), "pooling"),
        (lambda info: info.update(label_names=["neg", "pos", "neutral"]), "label_names"),
        (lambda info: info["adapter_config"].update(scaling=2.0), "adapter_config"),
    ],
    ids=["label-order", "pooling", "extra-label", "adapter-config"],
)
def test_run_json_edits_that_change_predictions_are_refused(run_dir, change, field):
    _edit_run(run_dir, change)
    with pytest.raises(RunError, match=f"disagree on {field}") as error:
        load_run(run_dir)
    message = str(error.value)
    assert os.path.join(str(run_dir), "run.json") in message
    assert os.path.join(str(run_dir), "adapter", CONFIG) in message


def test_truncated_run_json_names_the_file(run_dir):
    run_file = os.path.join(run_dir, "run.json")
    with open(run_file, encoding="utf-8") as f:
        text = f.read()
    with open(run_file, "w", encoding="utf-8") as f:
        f.write(text[:100])
    with pytest.raises(RunError, match="not valid JSON") as error:
        load_run(run_dir)
    assert run_file in str(error.value)
    _edit_run_text = '{"format": "keras-adapters/text-classification-run", "config": {}}'
    with open(run_file, "w", encoding="utf-8") as f:
        f.write(_edit_run_text)
    with pytest.raises(RunError, match="damaged or was edited.*config.preset"):
        load_run(run_dir)


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_cli_refuses_a_truncated_weights_file_with_one_message(run_dir, tmp_path, command):
    weights_path = os.path.join(run_dir, "adapter", WEIGHTS)
    with open(weights_path, "r+b") as f:
        f.truncate(os.path.getsize(weights_path) // 2)
    args = {
        "predict": ["predict", str(run_dir), "a good film"],
        "evaluate": ["evaluate", str(run_dir), "--split", "validation"],
        "export": ["export", str(run_dir), "--base-path", str(tmp_path / "serving"), "--name", "m"],
    }[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "does not match the sha256 digest" in result.output
    assert "Traceback" not in result.output
