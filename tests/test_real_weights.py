"""The real pretrained all-MiniLM-L6-v2 (installed offline by `make setup`)."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest
from click.testing import CliRunner

from keras_adapters import add_adapters, count_parameters
from keras_adapters.cli.main import main
from keras_adapters.pretrained import load_backbone, load_preprocessor

pytestmark = pytest.mark.slow  # real pretrained weights and a real training run


@pytest.fixture(scope="module")
def minilm():
    return load_backbone("minilm_l6")


@pytest.fixture(scope="module")
def batch():
    preprocessor = load_preprocessor("minilm_l6", sequence_length=32)
    return preprocessor(["a gorgeous, witty, seductive movie.", "the plot is a mess."])


def test_real_checkpoint_loads_as_bert(minilm):
    assert isinstance(minilm, keras_hub.models.BertBackbone)
    assert minilm.num_layers == 6 and minilm.hidden_dim == 384
    assert 22_000_000 < count_parameters(minilm).total < 23_500_000


def test_houlsby_adapters_on_real_weights(minilm, batch):
    adapted = add_adapters(minilm, "houlsby", initialization="zero_up")
    budget = count_parameters(adapted)
    # 6 layers x 2 adapters x (384*64 + 64 + 64*384 + 384) + layer norms.
    adapters = 6 * 2 * (2 * 384 * 64 + 64 + 384)
    norms = 13 * 2 * 384
    assert budget.trainable == adapters + norms
    assert 0.02 <= budget.trainable_share <= 0.04
    original = keras.ops.convert_to_numpy(minilm(batch)["sequence_output"])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(adapted(batch)["sequence_output"]), original
    )
    near = add_adapters(minilm, "houlsby")  # Houlsby's std 1e-3 initialisation
    diff = np.abs(keras.ops.convert_to_numpy(near(batch)["sequence_output"]) - original).max()
    assert 0 < diff < 1e-2


def test_short_real_training_run_and_predict(tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    # The default data set's whole validation and test splits are scored
    # (1,000 examples twice, 2,000 once), most of this run's time: hence the
    # shortest allowed sequence length. Nothing below depends on the length.
    result = runner.invoke(main, [
        "train", "--output-dir", str(out), "--max-train-examples", "64", "--epochs", "1",
        "--batch-size", "16", "--sequence-length", "8",
    ])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["num_examples"] == 2000
    assert metrics["validation"]["num_examples"] == 1000
    assert 0.02 < metrics["parameters"]["trainable_share"] < 0.04
    adapter_bytes = metrics["parameters"]["adapter_files_bytes"]
    assert adapter_bytes < 0.05 * metrics["parameters"]["full_weights_bytes_float32"]
    assert os.path.getsize(out / "training_curve.png") > 1000
    result = runner.invoke(main, ["predict", str(out), "an utterly charming film.", "a tedious mess."])
    assert result.exit_code == 0, result.output
    assert "fresh" in result.output or "rotten" in result.output
