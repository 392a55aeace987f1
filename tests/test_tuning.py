"""keras-tuner searches over adapters: `AdapterHyperModel`, task-weight
checkpoints, parameter budgets, `keras-adapters tune` and the example.

Searches train eagerly on a few examples: tracing a training step costs
seconds per trial, more than these tiny trainings.
"""

import functools
import gc
import json
import os
import pathlib
import subprocess
import sys
import weakref

import keras
import keras_hub
import keras_tuner
import numpy as np
import pytest
import safetensors.numpy
from click.testing import CliRunner

from keras_adapters import add_adapters, count_parameters, save_adapters
from keras_adapters.cli.main import main
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.pretrained import backbone_fingerprint
from keras_adapters.surgery.backbones import supported_backbones
from keras_adapters.surgery.layer_count import adaptable_blocks, num_adaptable_blocks
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.tuning import AdapterHyperModel, default_compile
from keras_adapters.tuning.checkpoints import find_checkpoints
from keras_adapters.tuning.results import collect_trial_results, is_over_budget
from keras_adapters.utils.sizes import directory_bytes

from helpers import TINY_BACKBONES, bart, bert, distil_bert, gpt2, opt, roberta

SEQ = 8
EAGER = functools.partial(default_compile, run_eagerly=True)
EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def tiny_bert(vocabulary_size=64, hidden_dim=16):
    return keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size, num_layers=2, num_heads=2, hidden_dim=hidden_dim,
        intermediate_dim=32, max_sequence_length=SEQ,
    )


def tiny_data(vocabulary_size=64, n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "token_ids": rng.integers(1, vocabulary_size, (n, SEQ)).astype("int32"),
        "segment_ids": np.zeros((n, SEQ), "int32"),
        "padding_mask": np.ones((n, SEQ), "int32"),
    }
    return x, (x["token_ids"][:, 0] % 2).astype("int32")


def search(tuner, data, epochs=1, **kwargs):
    x, y = data
    tuner.search(x, y, validation_data=(x, y), epochs=epochs, batch_size=8, verbose=0, **kwargs)
    return {trial.trial_id: trial for trial in tuner.oracle.trials.values()}


def random_search(hypermodel, directory, max_trials, **kwargs):
    return keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=max_trials, seed=1,
        directory=str(directory), project_name="search", overwrite=True, **kwargs,
    )


def numpy_weights(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def frozen_backbone_weights(model):
    trainable = {id(w) for w in model.trainable_weights}
    return [w for w in model.backbone.weights if id(w) not in trainable]


def task_weights(model):
    """What a trial checkpoint keeps: every weight but the frozen backbone's."""
    frozen = {id(w) for w in frozen_backbone_weights(model)}
    return [w for w in model.weights if id(w) not in frozen]


def stored_scalars(adapter_dir):
    """Number of scalars in an adapter directory's weights file."""
    arrays = safetensors.numpy.load_file(os.path.join(adapter_dir, "adapter_weights.safetensors"))
    return sum(int(a.size) for a in arrays.values())


# -- Search, checkpoints, best models ----------------------------------------


def test_search_reads_preset_once_and_checkpoints_only_task_weights(tmp_path, monkeypatch):
    # A large vocabulary makes the frozen part dominate, as in a real model:
    # about 270k parameters, of which a bottleneck-4 adapter trains 1,554.
    preset = str(tmp_path / "preset")
    tiny_bert(vocabulary_size=8000, hidden_dim=32).save_to_preset(preset)
    reads = []
    original = keras_hub.models.Backbone.from_preset.__func__

    def counting_from_preset(cls, *args, **kwargs):
        reads.append(args)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", classmethod(counting_from_preset))
    hypermodel = AdapterHyperModel(preset, num_classes=2, bottleneck_sizes=[2, 4], compile_task=EAGER)
    tuner = random_search(hypermodel, tmp_path, max_trials=2)
    trials = search(tuner, tiny_data(8000))
    best = tuner.get_best_models(1)[0]

    # Read from disk once for tuner set-up, both trials and the reload.
    assert len(reads) == 1 and hypermodel.backbone_loads == 1
    assert sorted(t.status for t in trials.values()) == ["COMPLETED", "COMPLETED"]

    full = tmp_path / "full.weights.h5"
    type(best).save_weights(best, str(full))  # Keras' own full-model checkpoint
    rows = {row.trial_id: row for row in collect_trial_results(tuner)}
    for trial_id, trial in trials.items():
        trial_dir = tuner.get_trial_dir(trial_id)
        # One checkpoint per trial, in the format of save_adapters.
        (checkpoint,) = find_checkpoints(trial_dir)
        assert sorted(os.listdir(checkpoint)) == ["adapter_config.json", "adapter_weights.safetensors"]
        assert stored_scalars(checkpoint) == trial.metrics.get_best_value("trainable_parameters")
        trial_bytes = directory_bytes(trial_dir)
        assert trial_bytes < 0.03 * full.stat().st_size, (trial_bytes, full.stat().st_size)
        assert rows[trial_id].checkpoint_bytes == directory_bytes(checkpoint)
        assert rows[trial_id].trial_dir_bytes == trial_bytes

    # The best model is rebuilt from its small checkpoint and works: it
    # scores exactly what the trial recorded for its best epoch.
    best_trial = tuner.oracle.get_best_trials(1)[0]
    x, y = tiny_data(8000)
    loss, accuracy = best.evaluate(x, y, batch_size=8, verbose=0)
    assert accuracy == pytest.approx(best_trial.metrics.get_best_value("val_accuracy"))
    assert loss == pytest.approx(best_trial.metrics.get_best_value("val_loss"), rel=1e-5)
    assert (best.backbone.get_adapter_config("default").bottleneck_size
            == best_trial.hyperparameters.get("bottleneck_size"))
    pristine = numpy_weights(hypermodel.backbone.weights)
    for frozen in numpy_weights(frozen_backbone_weights(best)):
        assert any(p.shape == frozen.shape and np.array_equal(p, frozen) for p in pristine)


class StartRecorder(keras.callbacks.Callback):
    """Records each trial's weights when training starts and ends.

    Class attributes: keras-tuner deep-copies the callbacks of every trial.
    """

    starts, ends, models = [], [], []

    def on_train_begin(self, logs=None):
        StartRecorder.starts.append(
            (numpy_weights(task_weights(self.model)), numpy_weights(frozen_backbone_weights(self.model)))
        )
        StartRecorder.models.append(weakref.ref(self.model))

    def on_train_end(self, logs=None):
        StartRecorder.ends.append(numpy_weights(task_weights(self.model)))


def test_each_trial_starts_from_pristine_weights_and_is_released(tmp_path):
    backbone = tiny_bert()
    fingerprint = backbone_fingerprint(backbone)
    x, _ = tiny_data()
    before = keras.ops.convert_to_numpy(backbone(x)["sequence_output"])
    pristine = numpy_weights(backbone.weights)
    # One bottleneck, two learning rates: both trials have identical shapes,
    # so trial 2 could silently start from trial 1's trained weights.
    hypermodel = AdapterHyperModel(
        backbone, num_classes=2, bottleneck_sizes=[4], learning_rates=[0.05, 0.1], seed=0,
        compile_task=EAGER,
    )
    StartRecorder.starts, StartRecorder.ends, StartRecorder.models = [], [], []
    search(random_search(hypermodel, tmp_path, max_trials=2), tiny_data(), callbacks=[StartRecorder()])

    assert len(StartRecorder.starts) == 2
    (first_task, first_frozen), (second_task, second_frozen) = StartRecorder.starts
    # The frozen backbone of every trial holds the pretrained weights...
    for frozen in (first_frozen, second_frozen):
        assert len(frozen) == len(pristine) - 10  # minus the 5 trained layer norms
        for array in frozen:
            assert any(a.shape == array.shape and np.array_equal(a, array) for a in pristine)
    # ...and trial 2's adapters, layer norms and head start where trial 1's
    # started (same seed), not where trial 1's training left them.
    for start, other_start, trained in zip(second_task, first_task, StartRecorder.ends[0]):
        np.testing.assert_array_equal(start, other_start)
    assert any(not np.array_equal(s, t) for s, t in zip(second_task, StartRecorder.ends[0]))

    # The kept backbone survived keras-tuner's clear_session() per trial,
    # untouched, and is still usable.
    assert hypermodel.backbone is backbone
    assert backbone_fingerprint(backbone) == fingerprint
    after = keras.ops.convert_to_numpy(backbone(x)["sequence_output"])
    np.testing.assert_array_equal(before, after)
    assert count_parameters(add_adapters(backbone, bottleneck_size=2)).trainable > 0

    # No trial's model outlives its trial: the hypermodel keeps counts only.
    gc.collect()
    assert [ref() for ref in StartRecorder.models] == [None, None]
    # 4 adapters x (2 x 16 x 4 + 4 + 16), 5 layer norms x 32, head 16 x 2 + 2.
    total = count_parameters(backbone).total + 4 * 148 + 34
    assert set(hypermodel.parameter_counts.values()) == {(4 * 148 + 160 + 34, total)}


def test_bayesian_and_hyperband(tmp_path):
    hypermodel = AdapterHyperModel(tiny_bert(), num_classes=2, bottleneck_sizes=[2, 4],
                                   compile_task=EAGER, seed=0)
    bayesian = keras_tuner.BayesianOptimization(
        hypermodel, objective="val_accuracy", max_trials=2, seed=1, directory=str(tmp_path),
        project_name="bayesian", overwrite=True,
    )
    trials = search(bayesian, tiny_data())
    assert [t.status for t in trials.values()] == ["COMPLETED", "COMPLETED"]
    assert bayesian.get_best_models(1)[0].predict(tiny_data()[0], verbose=0).shape == (16, 2)

    hyperband = keras_tuner.Hyperband(
        hypermodel, objective="val_accuracy", max_epochs=2, factor=2, seed=1,
        directory=str(tmp_path), project_name="hyperband", overwrite=True,
    )
    trials = search(hyperband, tiny_data())
    # Hyperband continues its best trials: their models are built afresh and
    # load the predecessor's task-weight checkpoint (strictly checked).
    continued = [t for t in trials.values() if "tuner/trial_id" in t.hyperparameters.values]
    assert continued and all(t.status == "COMPLETED" for t in continued)
    for trial in continued:
        predecessor = trials[trial.hyperparameters.values["tuner/trial_id"]]
        assert (trial.hyperparameters.get("bottleneck_size")
                == predecessor.hyperparameters.get("bottleneck_size"))
    assert hyperband.get_best_models(1)[0].predict(tiny_data()[0], verbose=0).shape == (16, 2)


# -- Parameter budget ----------------------------------------------------------


def test_own_budget_fails_over_budget_trials_before_training(tmp_path):
    # Trainable parameters: bottleneck 2 -> 522, bottleneck 8 -> 1,314.
    hypermodel = AdapterHyperModel(tiny_bert(), num_classes=2, bottleneck_sizes=[2, 8],
                                   max_trainable_parameters=1000, compile_task=EAGER)
    tuner = random_search(hypermodel, tmp_path, max_trials=2)
    trials = search(tuner, tiny_data())
    by_size = {t.hyperparameters.get("bottleneck_size"): t for t in trials.values()}
    assert by_size[2].status == "COMPLETED"
    assert by_size[8].status == "FAILED"
    assert "Over the parameter budget: 1,314 trainable parameters" in by_size[8].message
    assert not by_size[8].metrics.metrics  # never trained
    assert find_checkpoints(tuner.get_trial_dir(by_size[8].trial_id)) == []
    rows = {r.bottleneck_size: r for r in collect_trial_results(tuner)}
    assert rows[8].trainable_parameters == 1314 and rows[8].objective is None
    assert rows[2].trainable_parameters == 522 and rows[2].objective is not None
    # The status comes from the hypermodel's record, not from the message.
    assert rows[8].over_budget == "max_trainable_parameters" and is_over_budget(rows[8])
    assert rows[2].over_budget is None and not is_over_budget(rows[2])
    assert hypermodel.over_budget == {(("bottleneck_size", 8),): "max_trainable_parameters"}


def test_keras_tuner_max_model_size_is_respected(tmp_path):
    hypermodel = AdapterHyperModel(tiny_bert(), num_classes=2, bottleneck_sizes=[8],
                                   compile_task=EAGER)
    tuner = random_search(hypermodel, tmp_path, max_trials=1, max_model_size=1000)
    (trial,) = search(tuner, tiny_data()).values()
    assert trial.status == "FAILED"
    assert "Oversized model: 1314 parameters" in trial.message
    assert not trial.metrics.metrics
    assert find_checkpoints(tuner.get_trial_dir(trial.trial_id)) == []
    (row,) = collect_trial_results(tuner)
    assert row.over_budget == "max_model_size" and is_over_budget(row)
    assert row.trainable_parameters == 1314


# -- Task-weight files and hyperparameters --------------------------------------


def test_task_weight_files_are_strict_and_full_checkpoints_still_load(tmp_path):
    base = tiny_bert()
    saved = PooledTextClassifier(add_adapters(base, bottleneck_size=4), num_classes=2)
    for variable in task_weights(saved):
        variable.assign(np.full(variable.shape, 0.5, "float32"))
    path = str(tmp_path / "task.weights.h5")
    save_adapters(saved, tmp_path / "task")  # the directory a checkpoint at `path` is

    hypermodel = AdapterHyperModel(base, num_classes=2, bottleneck_sizes=[4], compile_task=EAGER)
    # Same adapters, other head: refused as a whole, nothing assigned.
    other = AdapterHyperModel(base, num_classes=3, bottleneck_sizes=[4]).build(keras_tuner.HyperParameters())
    before = numpy_weights(other.weights)
    with pytest.raises(ValueError, match=r"nothing was loaded(.|\n)*\(16, 2\).*\(16, 3\)"):
        other.load_weights(path)
    for a, b in zip(before, numpy_weights(other.weights)):
        np.testing.assert_array_equal(a, b)
    # Other adapter config: refused too.
    wider = AdapterHyperModel(base, num_classes=2, bottleneck_sizes=[8]).build(keras_tuner.HyperParameters())
    with pytest.raises(ValueError, match="nothing was loaded"):
        wider.load_weights(path)

    model = hypermodel.build(keras_tuner.HyperParameters())
    model.load_weights(path)  # the replaced method reads the adapter checkpoint
    for variable in task_weights(model):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), 0.5)
    # A Keras full-model file still loads through Keras' own load_weights.
    full = str(tmp_path / "full.weights.h5")
    type(saved).save_weights(saved, full)
    fresh = hypermodel.build(keras_tuner.HyperParameters())
    fresh.load_weights(full)
    np.testing.assert_allclose(fresh.predict(tiny_data()[0], verbose=0),
                               saved.predict(tiny_data()[0], verbose=0), atol=1e-6)


def test_optional_hyperparameters(tmp_path):
    hypermodel = AdapterHyperModel(
        tiny_bert(), num_classes=2, bottleneck_sizes=[4, 8], adapter_presets=["houlsby", "pfeiffer"],
        layers=["all", "top:1", [0]], learning_rates=[1e-3, 3e-4],
    )
    hp = keras_tuner.HyperParameters()
    hp.values.update(bottleneck_size=8, adapter="pfeiffer", layers="top:1", learning_rate=3e-4)
    model = hypermodel.build(hp)
    config = model.backbone.get_adapter_config("default")
    assert (config.bottleneck_size, config.placements, config.layers) == (8, ("feedforward",), (1,))
    assert not config.train_layer_norms
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(3e-4)
    assert {p.name for p in hp.space} == {"bottleneck_size", "adapter", "layers", "learning_rate"}
    # One adapter (2 x 16 x 8 + 8 + 16) in layer 1 and the head: nothing else trains.
    assert count_parameters(model).trainable == 280 + 34

    # Any task head works, e.g. a KerasHub task on the adapted backbone.
    kerashub = AdapterHyperModel(
        tiny_bert(), lambda backbone, hp: keras_hub.models.BertTextClassifier(
            backbone, num_classes=3, preprocessor=None), bottleneck_sizes=[4])
    task = kerashub.build(keras_tuner.HyperParameters())
    assert isinstance(task, keras_hub.models.BertTextClassifier)
    # Adapters and layer norms, and the head: logits 16 x 3 + 3 (BERT's pooler is frozen).
    assert count_parameters(task).trainable == 592 + 160 + 51
    task.save_weights(str(tmp_path / "task.weights.h5"))
    assert stored_scalars(tmp_path / "task") == 592 + 160 + 51
    again = kerashub.build(keras_tuner.HyperParameters())
    again.load_weights(str(tmp_path / "task.weights.h5"))
    np.testing.assert_allclose(again.predict(tiny_data()[0], verbose=0),
                               task.predict(tiny_data()[0], verbose=0), atol=1e-6)

    with pytest.raises(ValueError, match="exactly one of `build_task`"):
        AdapterHyperModel(tiny_bert(), lambda backbone, hp: None, num_classes=2)
    with pytest.raises(ValueError, match="bottleneck_sizes"):
        AdapterHyperModel(tiny_bert(), num_classes=2, bottleneck_sizes=[8, 0])
    with pytest.raises(ValueError, match="Invalid layer selection"):
        AdapterHyperModel(tiny_bert(), num_classes=2, layers=["middle"])


# -- Layer counting: "top:K" means the backbone's last K blocks ----------------


def every_supported_family():
    """One tiny backbone (2 layers) of every family add_adapters supports."""
    return {name: factory() for name, factory in TINY_BACKBONES.items()}


def test_block_count_agrees_with_adapter_indices_for_every_family():
    families = every_supported_family()
    assert sorted(families) == sorted(supported_backbones())
    for name, plain in families.items():
        count = num_adaptable_blocks(plain)
        assert count == (4 if name == "BartBackbone" else 2), name  # BART: encoder + decoder
        # The last index the count allows is the backbone's last block.
        adapted = add_adapters(plain, "pfeiffer", bottleneck_size=2, layers=(count - 1,))
        assert num_adaptable_blocks(adapted) == count == len(adapted.transformer_blocks), name
        assert all(a is b for a, b in zip(adaptable_blocks(adapted), adapted.transformer_blocks))
        assert [index for index, _, _ in adapted.adapter_layers("default")] == [count - 1], name


def test_top_k_layers_in_the_tuner_are_the_backbones_last_blocks_on_bart():
    bart_backbone = bart()
    hypermodel = AdapterHyperModel(
        bart_backbone, lambda adapted, hp: adapted, bottleneck_sizes=[2], adapter="pfeiffer",
        layers=["top:1", "top:3", "bottom:1"],
    )

    def blocks_with_adapters(label):
        hp = keras_tuner.HyperParameters()
        hp.values.update(bottleneck_size=2, layers=label)
        adapted = hypermodel.build(hp)
        indices = [index for index, _, _ in adapted.adapter_layers("default")]
        return [adapted.transformer_blocks[i] for i in indices], adapted

    blocks, adapted = blocks_with_adapters("top:1")  # the last decoder block, not an encoder one
    assert blocks == [adapted.decoder_transformer_layers[-1]]
    blocks, adapted = blocks_with_adapters("top:3")
    assert blocks == [adapted.encoder_transformer_layers[-1], *adapted.decoder_transformer_layers]
    blocks, adapted = blocks_with_adapters("bottom:1")
    assert blocks == [adapted.encoder_transformer_layers[0]]
    too_many = AdapterHyperModel(bart_backbone, lambda adapted, hp: adapted, bottleneck_sizes=[2],
                                 layers=["top:5"])
    hp = keras_tuner.HyperParameters()
    with pytest.raises(ValueError, match="asks for 5 layers; the backbone has 4 transformer blocks"):
        too_many.adapter_config(hp)


# -- Command line and example --------------------------------------------------

WORDS = "good great fun lovely superb bad awful boring dull poor the a movie film plot".split()


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tiny_bert"))
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    ).save_to_preset(path)
    keras_hub.models.BertTokenizer(vocabulary=vocabulary).save_to_preset(path)
    return path


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "train.csv"
    lines = ["text,label"]
    for i in range(40):
        if i % 2:
            lines.append(f"the movie was {WORDS[i % 5]} and {WORDS[(i + 1) % 5]},pos")
        else:
            lines.append(f"the film was {WORDS[5 + i % 5]} and {WORDS[5 + (i + 2) % 5]},neg")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _tune_args(preset, csv, out, *extra):
    return ["tune", "--preset", preset, "--dataset", f"csv:{csv}", "--output-dir", str(out),
            "--epochs", "1", "--batch-size", "8", "--sequence-length", "16", "--lr", "5e-3", *extra]


def optimizer_graphs():
    """TensorFlow graphs of optimizer slot-variable initialisers still alive."""
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, FuncGraph) and o.name.startswith("adam_w"))


def test_tune_command_writes_results_and_a_usable_best_run(tiny_preset, tiny_csv, tmp_path):
    runner = CliRunner()
    out = tmp_path / "search"
    graphs_before = optimizer_graphs()
    result = runner.invoke(main, _tune_args(tiny_preset, tiny_csv, out, "--bottlenecks", "2,8",
                                            "--adapter", "houlsby", "--max-trainable-params", "1000"))
    assert result.exit_code == 0, result.output
    # Trials build their optimizer eagerly: slot variables created while
    # tracing would leave TensorFlow graphs behind for good (memory creep).
    assert optimizer_graphs() == graphs_before
    assert "over budget" in result.output and "1,314" in result.output and "522" in result.output
    assert f"predict {out / 'best'}" in result.output
    assert sorted(os.listdir(out)) == ["best", "results.csv", "results.json", "results.png", "trials"]
    assert sorted(os.listdir(out / "best")) == ["adapter", "metrics.json", "run.json"]
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    document = json.loads((out / "results.json").read_text())
    trials = {t["hyperparameters"]["bottleneck_size"]: t for t in document["trials"]}
    assert trials[2]["status"] == "COMPLETED" and trials[8]["status"] == "FAILED"
    assert trials[2]["trainable_parameters"] == 522 and trials[8]["trainable_parameters"] == 1314
    assert 0 <= trials[2]["objective"] <= 1 and trials[2]["fit_seconds"] > 0
    assert document["best_hyperparameters"] == {"bottleneck_size": 2}
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["trial_id", "status", "bottleneck_size"]
    assert {"trainable_parameters", "trainable_share", "objective", "fit_seconds"} <= set(header)

    run = json.loads((out / "best" / "run.json").read_text())
    assert run["adapter_config"]["bottleneck_size"] == 2
    assert run["tuning"]["hyperparameters"] == {"bottleneck_size": 2}
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] == pytest.approx(trials[2]["objective"])
    result = runner.invoke(main, ["predict", str(out / "best"), "the movie was good and great"])
    assert result.exit_code == 0, result.output
    assert "pos" in result.output or "neg" in result.output
    result = runner.invoke(main, ["evaluate", str(out / "best"), "--split", "validation"])
    assert result.exit_code == 0, result.output
    assert f"{100 * metrics['validation']['accuracy']:.2f}%" in result.output


def test_tune_command_errors_are_clear(tiny_preset, tiny_csv, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, _tune_args(tiny_preset, tiny_csv, tmp_path / "a", "--bottlenecks", "8,x"))
    assert result.exit_code == 2 and "comma-separated list of int" in result.output

    result = runner.invoke(main, _tune_args(tiny_preset, tiny_csv, tmp_path / "b", "--bottlenecks", "4,8",
                                            "--max-trainable-params", "100"))
    assert result.exit_code == 1
    (message,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert message.startswith("Error: No trial of the search completed (2 tried)")
    assert "Over the parameter budget" in message and "Loosen --max-trainable-params" in message
    assert json.loads((tmp_path / "b" / "results.json").read_text())["trials"][0]["status"] == "FAILED"

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    result = runner.invoke(main, _tune_args(tiny_preset, tiny_csv, tmp_path / "mine"))
    assert result.exit_code == 1 and "not empty and holds no keras-adapters search" in result.output
    result = runner.invoke(main, _tune_args(tiny_preset, tiny_csv, tmp_path / "b"))
    assert result.exit_code == 1 and "already holds a search" in result.output


def test_example_smoke():
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "tune_bottleneck.py"), "--smoke"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    table = lines[lines.index(next(l for l in lines if l.lstrip().startswith("bottleneck"))) + 1:][:2]
    assert [int(line.split()[0]) for line in table] == [8, 64]
    for line in table:  # trial directory against the full-model checkpoint
        assert float(line.split()[-1].rstrip("%")) < 5
    assert "best bottleneck" in completed.stdout and "test accuracy" in completed.stdout


def test_bottleneck_sizes_wider_than_the_backbone_allows_are_refused_up_front():
    backbone = tiny_bert()
    limit = 4 * backbone.hidden_dim
    AdapterHyperModel(backbone, num_classes=2, bottleneck_sizes=[limit])  # the widest allowed
    with pytest.raises(KerasAdaptersError, match=rf"\[{limit + 1}\].*at most {limit}"):
        AdapterHyperModel(backbone, num_classes=2, bottleneck_sizes=[8, limit + 1])
