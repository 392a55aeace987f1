"""`keras-adapters` end to end on a tiny random backbone and a tiny CSV."""

import json
import os
import runpy
import sys

import pytest
import safetensors.numpy
from click.testing import CliRunner

from keras_adapters.cli.main import main
from keras_adapters.training import callbacks

from helpers import make_tiny_preset

WORDS = "good great fun lovely superb bad awful boring dull poor the a movie film plot".split()


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """A random-initialised BERT saved as a local KerasHub preset."""
    return make_tiny_preset(tmp_path_factory.mktemp("tiny_bert"), WORDS)


def _write_csv(path, rows, header=("text", "label")):
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(row) + "\n")
    return str(path)


@pytest.fixture
def tiny_csv(tmp_path):
    rows = []
    for i in range(40):
        if i % 2:
            rows.append((f"the movie was {WORDS[i % 5]} and {WORDS[(i + 1) % 5]}", "pos"))
        else:
            rows.append((f"the film was {WORDS[5 + i % 5]} and {WORDS[5 + (i + 2) % 5]}", "neg"))
    return _write_csv(tmp_path / "train.csv", rows)


def _train_args(preset, dataset, out, *extra):
    return [
        "train", "--preset", preset, "--dataset", dataset, "--output-dir", str(out),
        "--epochs", "2", "--batch-size", "8", "--sequence-length", "16",
        "--learning-rate", "5e-3", *extra,
    ]


def test_train_predict_evaluate(tiny_preset, tiny_csv, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(main, _train_args(tiny_preset, f"csv:{tiny_csv}", out, "--bottleneck", "4"))
    assert result.exit_code == 0, result.output
    assert "Parameters: trainable" in result.output
    assert f"predict {out}" in result.output
    assert sorted(os.listdir(out)) == [
        "adapter", "metrics.json", "run.json", "training_curve.png",
    ]
    assert sorted(os.listdir(out / "adapter")) == ["adapter_config.json", "adapter_weights.safetensors"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"validation", "best_epoch", "history", "wall_time_seconds", "parameters"}
    assert len(metrics["history"]) == 2
    assert 0 <= metrics["validation"]["accuracy"] <= 1
    assert 0 < metrics["parameters"]["trainable_share"] < 1
    run = json.loads((out / "run.json").read_text())
    assert run["label_names"] == ["neg", "pos"]
    assert run["adapter_config"]["bottleneck_size"] == 4

    result = runner.invoke(main, ["predict", str(out), "the movie was good and great", "awful plot"])
    assert result.exit_code == 0, result.output
    assert "pos" in result.output or "neg" in result.output

    result = runner.invoke(main, ["evaluate", str(out), "--split", "validation"])
    assert result.exit_code == 0, result.output
    assert f"{100 * metrics['validation']['accuracy']:.2f}%" in result.output


def test_existing_run_needs_overwrite(tiny_preset, tiny_csv, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = _train_args(tiny_preset, f"csv:{tiny_csv}", out, "--epochs", "1")
    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert "already holds a run" in result.output and "--overwrite" in result.output
    # A successful --overwrite is tested step by step in test_fault_injection.py.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    result = runner.invoke(main, _train_args(tiny_preset, f"csv:{tiny_csv}", tmp_path / "other"))
    assert result.exit_code == 1 and "not empty" in result.output


def test_interrupt_keeps_last_good_checkpoint(tiny_preset, tiny_csv, tmp_path, monkeypatch):
    # Ctrl-C while epoch 2's checkpoint is being written (its weights file is
    # on disk, its config not yet): epoch 1's checkpoint stays, complete, and
    # the message names epoch 1, the one on disk.
    monkeypatch.setattr(callbacks.BestAdapterCheckpoint, "_improved", lambda self, value: True)
    written = []
    write = safetensors.numpy.save_file

    def write_then_interrupt(tensors, filename, *args, **kwargs):
        write(tensors, filename, *args, **kwargs)
        written.append(filename)
        if len(written) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.numpy, "save_file", write_then_interrupt)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, _train_args(tiny_preset, f"csv:{tiny_csv}", out))
    assert result.exit_code == 130
    assert len(written) == 2 and "last good checkpoint (epoch 1) is intact" in result.output
    assert sorted(os.listdir(out)) == ["adapter", "run.json"]
    assert sorted(os.listdir(out / "adapter")) == ["adapter_config.json", "adapter_weights.safetensors"]
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["metadata"]["epoch"] == 1
    assert not [name for name in os.listdir(tmp_path) if "partial" in name or ".old-" in name]
    monkeypatch.undo()
    result = CliRunner().invoke(main, ["predict", str(out), "good fun"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_file", "No such file"),
        ("misspelt_column", "'text'"),
        ("single_class", "class"),
        ("unknown_adapter", "Unknown adapter preset 'hulsby'"),
        ("unknown_preset", "Cannot load preset"),
        ("bad_spec", "csv:PATH"),
    ],
)
def test_bad_input_gives_clear_error(case, expected, tiny_preset, tiny_csv, tmp_path):
    dataset, preset, extra = f"csv:{tiny_csv}", tiny_preset, []
    if case == "missing_file":
        dataset = f"csv:{tmp_path / 'nope.csv'}"
    elif case == "misspelt_column":
        extra = ["--text-column", "txt"]
    elif case == "single_class":
        dataset = "csv:" + _write_csv(tmp_path / "one.csv", [(f"the movie {w}", "pos") for w in WORDS])
    elif case == "unknown_adapter":
        extra = ["--adapter", "hulsby"]
    elif case == "unknown_preset":
        preset = str(tmp_path)
    elif case == "bad_spec":
        dataset = "xlsx:data.xlsx"
    result = CliRunner().invoke(main, _train_args(preset, dataset, tmp_path / "run", *extra))
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and expected in result.output
    assert "Traceback" not in result.output


def test_predict_on_missing_run(tmp_path):
    result = CliRunner().invoke(main, ["predict", str(tmp_path), "text"])
    assert result.exit_code == 1 and "not a keras-adapters run directory" in result.output


def test_module_entry_point_help(monkeypatch, capsys):
    # `python -m keras_adapters train --help`, in this process: a fresh one
    # would import TensorFlow for a few seconds.
    monkeypatch.setattr(sys, "argv", ["keras_adapters", "train", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("keras_adapters", run_name="__main__")
    assert exited.value.code == 0
    stdout = capsys.readouterr().out
    for option in ("--preset", "--dataset", "--adapter", "--bottleneck", "--epochs",
                   "--batch-size", "--sequence-length", "--learning-rate", "--schedule",
                   "--warmup", "--seed", "--output-dir"):
        assert option in stdout
