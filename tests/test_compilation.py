"""`--jit-compile`: whether `train` compiles its training step with XLA
(keras_adapters.training.compilation)."""

import keras
import pytest
from click.testing import CliRunner

from keras_adapters.cli.main import main
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.tasks.backbone_task import BackboneTaskMixin
from keras_adapters.training import TrainConfig
from keras_adapters.training.compilation import AUTO_MIN_STEPS, resolve_jit_compile

from helpers import make_tiny_preset, write_two_class_csv

WORDS = "good great fun bad awful dull the movie film was".split()


def test_settings_resolve_per_backend_and_strategy():
    assert resolve_jit_compile("off") is False
    assert resolve_jit_compile("on") is True
    # The tests run on TensorFlow: "auto" is XLA there, for runs long enough to repay compiling.
    assert keras.backend.backend() == "tensorflow"
    assert resolve_jit_compile("auto") is True
    assert resolve_jit_compile("auto", steps=AUTO_MIN_STEPS) is True
    assert resolve_jit_compile("auto", steps=AUTO_MIN_STEPS - 1) is False
    assert resolve_jit_compile("on", steps=1) is True
    strategy = object()  # any tf.distribute strategy: XLA is off under one
    assert resolve_jit_compile("auto", strategy) is False
    assert resolve_jit_compile("off", strategy) is False
    with pytest.raises(KerasAdaptersError, match="cannot be combined with `distribute='mirrored'`"):
        resolve_jit_compile("on", strategy)
    with pytest.raises(KerasAdaptersError, match="must be one of auto, on, off; got 'xla'"):
        resolve_jit_compile("xla")


def test_option_is_checked_before_any_work(tmp_path):
    result = CliRunner().invoke(main, ["train", "--jit-compile", "yes"])
    assert result.exit_code == 2
    assert "'yes' is not one of 'auto', 'on', 'off'" in result.output
    # XLA under MirroredStrategy is refused by the settings check, before the data is read:
    # the missing CSV file would otherwise be the error.
    with pytest.raises(KerasAdaptersError, match="cannot be combined with `distribute='mirrored'`"):
        TrainConfig(jit_compile="on", distribute="mirrored").validate()
    result = CliRunner().invoke(main, [
        "train", "--jit-compile", "on", "--distribute", "mirrored",
        "--dataset", f"csv:{tmp_path / 'missing.csv'}", "--output-dir", str(tmp_path / "run"),
    ])
    assert result.exit_code != 0
    assert "cannot be combined with `distribute='mirrored'`" in result.output
    assert "missing.csv" not in result.output
    assert not (tmp_path / "run").exists()


# Two steps: "auto" leaves XLA off (too short to repay compiling), "on" compiles with it.
@pytest.mark.parametrize("option, expected", [(None, False), ("on", True)])
def test_train_compiles_its_step_as_asked(option, expected, tmp_path, monkeypatch):
    compiled = []
    original = BackboneTaskMixin.compile

    def recording_compile(self, *args, **kwargs):
        compiled.append(kwargs.get("jit_compile"))
        # What the run asks for is recorded; compiling the tiny model with XLA would add ~20 s
        # of test time and test Keras, not keras-adapters (the benchmark trains with XLA).
        return original(self, *args, **{**kwargs, "jit_compile": False})

    monkeypatch.setattr(BackboneTaskMixin, "compile", recording_compile)
    preset = make_tiny_preset(tmp_path / "preset", WORDS, num_layers=1)
    data = write_two_class_csv(tmp_path / "train.csv", WORDS[:3], WORDS[3:6])
    arguments = ["train", "--preset", preset, "--dataset", f"csv:{data}", "--output-dir",
                 str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8", "--sequence-length", "16"]
    if option is not None:
        arguments += ["--jit-compile", option]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    # KerasHub's task constructor compiles with its defaults first; the run's compile is the last.
    assert compiled[-1] is expected


def test_evaluation_predicts_every_batch_at_one_shape():
    """A shorter last batch is padded (no second XLA compile) and its padding dropped."""
    import numpy as np
    import tensorflow as tf

    from keras_adapters.training.pipeline import labels_and_logits

    inputs = {"x": keras.Input((3,), name="x")}
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs["x"]))
    features = np.arange(21, dtype="float32").reshape(7, 3)
    labels = np.arange(7) % 2
    dataset = tf.data.Dataset.from_tensor_slices(({"x": features}, labels)).batch(3)
    shapes = []
    predict = model.predict_on_batch
    model.predict_on_batch = lambda batch: shapes.append(batch["x"].shape) or predict(batch)

    got_labels, logits = labels_and_logits(model, dataset)

    assert shapes == [(3, 3)] * 3
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_allclose(logits, predict({"x": features}), rtol=1e-6)
