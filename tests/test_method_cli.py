"""Every adapter method through the command line: `train --adapter lora|ia3|parallel`,
then `predict` and `export --merge` from the run directory (a tiny random BERT,
one epoch on a tiny CSV file)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from keras_adapters import training
from keras_adapters.cli.main import main

from helpers import make_tiny_preset, write_two_class_csv

WORDS = "good great fun bad awful dull the movie film was".split()


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    return make_tiny_preset(tmp_path_factory.mktemp("tiny_bert"), WORDS, num_layers=1)


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    return write_two_class_csv(tmp_path_factory.mktemp("data") / "train.csv", WORDS[:3], WORDS[3:6])


@pytest.mark.parametrize("method", ["lora", "ia3", "parallel"])
def test_train_predict_and_export_merged(method, tiny_preset, tiny_csv, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(main, [
        "train", "--adapter", method, "--preset", tiny_preset, "--dataset", f"csv:{tiny_csv}",
        "--output-dir", str(run), "--epochs", "1", "--batch-size", "8", "--sequence-length", "16",
    ])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "run.json").read_text())["adapter_config"]["kind"] == method

    result = runner.invoke(main, ["predict", str(run), "the movie was good"])
    assert result.exit_code == 0, result.output
    assert "pos" in result.output or "neg" in result.output

    serving = tmp_path / "serving"
    result = runner.invoke(main, ["export", str(run), "--base-path", str(serving), "--name", method,
                                  "--merge"])
    if method == "parallel":  # a non-linear branch: nothing to fold into the weights
        assert result.exit_code == 1
        assert "Error: merge=True needs exactly one active LoRA or (IA)^3 adapter" in result.output
        assert "Traceback" not in result.output and not (serving / method / "1").exists()
        return
    assert result.exit_code == 0, result.output
    extra = serving / method / "1" / "assets.extra"
    # What the export recorded from the merged model equals the unmerged run's output.
    served = np.load(extra / "sample_outputs.npz")["serving_default.logits"]
    inputs = dict(np.load(extra / "sample_inputs.npz"))
    unmerged = training.load_run(str(run)).model
    assert unmerged.backbone.merged_adapter is None
    np.testing.assert_allclose(served, unmerged.predict(inputs, verbose=0), atol=1e-5)
