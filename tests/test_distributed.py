"""Training on several devices (keras_adapters.training.distribution), tested on this machine.

TensorFlow's logical devices must be configured before TensorFlow starts,
and the test process has started it already; so each distributed check runs
in a fresh Python process: this file run as a script (`python
tests/test_distributed.py mirrored OUT`), which writes what it measured as
JSON for the test to check. One process does all the MirroredStrategy
checks, since each TensorFlow start costs ~8 s of CPU.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training import TrainConfig
from keras_adapters.utils.local_processes import free_ports, run_together

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: Max |difference| of an adapter weight trained on 2 replicas vs 1 device,
#: same global batch, SGD, no dropout, 3 steps: the two replicas' gradients
#: are summed in another order than one device's, so float32 rounding
#: (~6e-8 relative) is all that may differ. Measured: 6e-8.
SAME_WEIGHTS_ATOL = 1e-6
#: Tiny adapted BERT of the checks: 2 blocks, width 16, Houlsby bottleneck 4,
#: adapters after attention, feed-forward and on the embedding output.
BOTTLENECK = 4
PLACEMENTS = ("attention", "feedforward", "embedding")
GLOBAL_BATCH = 8
STEPS = 3
WORDS = "good great fun lovely superb bad awful boring dull poor the a movie film plot".split()


def _run_child(mode, out_dir, timeout=600):
    """Runs this file as a script in a fresh process; returns the JSON it wrote."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result_file = os.path.join(out_dir, "result.json")
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), mode, str(out_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    with open(result_file, encoding="utf-8") as f:
        return json.load(f)


# -- The tests ----------------------------------------------------------------------


# Fresh processes (~8 s CPU per TensorFlow start each).
@pytest.mark.slow
def test_mirrored_strategy_trains_like_one_device_and_reduces_only_adapter_gradients(tmp_path):
    result = _run_child("mirrored", tmp_path)
    assert result["replicas"] == 2

    # Same global batch, same adapter weights as one device.
    assert result["compared_weights"] > 0
    assert result["max_weight_difference"] <= SAME_WEIGHTS_ATOL, result
    assert result["weights_moved"] > 1e-3  # the comparison is not between untrained models

    # All-reduce traffic per step: exactly the trainable (adapter, layer norm
    # and head) gradients, float32, once per step; nothing of the frozen model.
    assert result["all_reduced_bytes_per_step"] == 4 * result["trainable_parameters"], result
    assert result["all_reduced_tensors_per_step"] == result["trainable_variables"]
    assert result["trainable_parameters"] < result["total_parameters"] / 5

    # Embedding adapters (keras-team/keras#21069 is a sparse-gradient failure
    # under MirroredStrategy) are among the weights compared and reduced: the
    # frozen embedding tables send no gradient, the adapter on the embedding
    # output trains like the others. The adapter file written under the
    # strategy restores the trained weights exactly.
    assert result["embedding_adapter_variables"] == 4  # down/up kernel and bias
    assert result["reloaded_difference"] == 0.0

    # The command line: replicas and the global batch printed at the start,
    # and a complete run directory.
    cli = result["cli"]
    assert cli["exit_code"] == 0, cli["output"]
    assert "Distribution mirrored: 2 replicas; global batch 8 = 4 per replica" in cli["output"]
    assert cli["run_entries"] == ["adapter", "metrics.json", "run.json", "training_curve.png"]
    assert cli["recorded_distribute"] == "mirrored"


# Fresh processes (~8 s CPU per TensorFlow start each).
@pytest.mark.slow
def test_data_parallel_two_jax_processes_on_loopback_match_one_process(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.fail("The JAX backend is not installed: run `make setup` (or `pip install -e '.[jax]'`).")
    from helpers import make_tiny_preset

    port, = free_ports(1)
    # One preset and data file for both processes: the frozen weights must be the same.
    preset = make_tiny_preset(tmp_path / "tiny_bert", WORDS)
    csv = _write_reviews(tmp_path / "reviews.csv")
    # JAX: the CPU only, without probing for accelerator plugins.
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    commands = []
    for process_id in (0, 1):
        out = tmp_path / str(process_id)
        out.mkdir()
        commands.append([sys.executable, os.path.abspath(__file__), "data-parallel", str(out),
                         str(process_id), "2", str(port), preset, csv])
    for process in run_together(commands, timeout=600, envs=[env, env], cwd=ROOT):
        assert process.returncode == 0, process.output[-5000:]
    first, second = (json.loads((tmp_path / str(i) / "result.json").read_text()) for i in (0, 1))
    assert first["devices"] == 2  # one CPU device per process, one mesh
    assert first["moved"] > 1e-3
    # Both processes hold the same weights, and they are the weights one
    # process computes on the whole global batch (float32 summation order).
    assert first["weights"] == second["weights"]
    assert first["max_difference_to_one_process"] <= SAME_WEIGHTS_ATOL
    # Process 0 wrote the adapter file; it restores exactly those weights.
    assert first["reloaded_difference"] == 0.0

    # The command line, in the same two processes: process 0 alone writes the run.
    for result in (first, second):
        assert result["cli"]["exit_code"] == 0, result["cli"]["output"]
        assert "Distribution data-parallel: 2 replicas; global batch 8 = 4 per replica" in (
            result["cli"]["output"])
    assert "Process 1 done; process 0 writes the run" in second["cli"]["output"]
    run = tmp_path / "run"
    assert sorted(os.listdir(run)) == ["adapter", "metrics.json", "run.json", "training_curve.png"]
    assert [name for name in os.listdir(tmp_path) if name.startswith(".run.")] == []


def test_distribute_setting_is_checked_before_any_work():
    with pytest.raises(KerasAdaptersError, match="`distribute` must be one of none, mirrored"):
        TrainConfig(distribute="horovod").validate()
    from keras_adapters.training.distribution import training_distribution

    with pytest.raises(KerasAdaptersError, match="cannot be combined with `distribute='mirrored'`"):
        training_distribution(TrainConfig(distribute="mirrored", cache_frozen_prefix=True))
    # A search's trials run on one device each; it scales out with workers.
    from keras_adapters.tuning.text_classification import TuneConfig, TuningError, tune_text_classifier

    with pytest.raises(TuningError, match="trains each trial on one device"):
        tune_text_classifier(TuneConfig(train=TrainConfig(distribute="mirrored")))


def _write_reviews(path, repeats=24):
    with open(path, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for i in range(repeats):
            f.write(f"the movie was {WORDS[i % 5]},pos\nthe film was {WORDS[5 + i % 5]},neg\n")
    return str(path)


# Fresh processes (~8 s CPU per TensorFlow start each).
@pytest.mark.slow
def test_distributed_search_one_chief_two_workers_on_loopback(tmp_path):
    from helpers import make_tiny_preset

    preset = make_tiny_preset(tmp_path / "tiny_bert", WORDS)
    csv = _write_reviews(tmp_path / "reviews.csv")
    search = tmp_path / "search"
    command = [
        sys.executable, "-m", "keras_adapters", "tune", "--preset", preset, "--dataset",
        f"csv:{csv}", "--output-dir", str(search), "--bottlenecks", "2,4,8", "--max-trials", "3",
        "--epochs", "1", "--batch-size", "8", "--sequence-length", "8",
    ]
    port, = free_ports(1)
    tuner_ids = ("chief", "tuner0", "tuner1")
    envs = [{**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
             "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1",
             "KERASTUNER_ORACLE_PORT": str(port)} for tuner_id in tuner_ids]
    outputs = {}
    for tuner_id, process in zip(tuner_ids, run_together([command] * 3, timeout=600, envs=envs, cwd=ROOT)):
        outputs[tuner_id] = process.output
        assert process.returncode == 0, f"{tuner_id}:\n{outputs[tuner_id][-5000:]}"

    # Each worker trained some of the trials; together all three, none twice.
    trained = {}
    for tuner_id in ("tuner0", "tuner1"):
        line = next(line for line in outputs[tuner_id].splitlines() if "trained trials:" in line)
        trained[tuner_id] = line.split("trained trials:")[1].split(".")[0].strip().split(", ")
    assert all(ids and ids != ["none"] for ids in trained.values()), trained
    ids = trained["tuner0"] + trained["tuner1"]
    assert len(ids) == len(set(ids)) == 3, trained

    # The chief wrote the search: every trial's result, the best run, and the
    # trials' adapter-only checkpoints (no backbone) moved in from the shared project.
    assert sorted(os.listdir(search)) == [
        "best", "results.csv", "results.json", "results.png", "trials",
    ]
    assert not os.path.exists(tmp_path / ".search.distributed-search")
    results = json.loads((search / "results.json").read_text())
    assert sorted(trial["trial_id"] for trial in results["trials"]) == sorted(ids)
    assert all(trial["status"] == "COMPLETED" for trial in results["trials"]), results["trials"]
    full_bytes = results["full_weights_bytes_float32"]
    for trial in results["trials"]:
        assert 0 < trial["checkpoint_bytes"] < full_bytes / 2, trial
    assert sorted(os.listdir(search / "best")) == ["adapter", "metrics.json", "run.json"]


def test_distributed_search_environment_is_checked():
    from keras_adapters.tuning.distributed import search_role

    with pytest.raises(KerasAdaptersError, match="KERASTUNER_ORACLE_PORT must be a port number"):
        search_role({"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1",
                     "KERASTUNER_ORACLE_PORT": "http"})
    assert search_role({"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "10.0.0.1",
                        "KERASTUNER_ORACLE_PORT": "8000"}).kind == "chief"


# -- What the child processes run ---------------------------------------------------


def _counting_reduction(tf):
    """TF's CPU all-reduce, counting the tensors and bytes it reduces (in the graph)."""

    class CountingReduction(tf.distribute.ReductionToOneDevice):
        def __init__(self):
            super().__init__()
            self.bytes = tf.Variable(0, dtype=tf.int64, trainable=False)
            self.tensors = tf.Variable(0, dtype=tf.int64, trainable=False)

        def _count(self, values):
            # The first replica's copy: what each replica contributes.
            firsts = [value.values[0] for value in values]
            nbytes = tf.add_n([tf.size(v, tf.int64) * v.dtype.size for v in firsts])
            self.bytes.assign_add(nbytes)
            self.tensors.assign_add(len(firsts))

        def batch_reduce_implementation(self, reduce_op, value_destination_pairs, options):
            self._count([value for value, _ in value_destination_pairs])
            return super().batch_reduce_implementation(reduce_op, value_destination_pairs, options)

    return CountingReduction()


def _numpy(variable):
    """A variable's value; under a multi-process distribution, this process's copy."""
    import numpy as np

    value = variable.value
    if hasattr(value, "addressable_data"):  # a JAX array spread over processes
        value = value.addressable_data(0)
    return np.array(value)


def _train_tiny(strategy, placements, steps=STEPS, shard=(0, 1)):
    """A tiny adapted BERT classifier built, compiled and fitted under `strategy`.

    `shard=(index, count)`: this process's share of each global batch (JAX
    multi-process: every process feeds its own examples).
    """
    import contextlib

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_adapters import add_adapters
    from keras_adapters.tasks import PooledTextClassifier

    from helpers import bert, inputs_for

    keras.utils.set_random_seed(0)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        adapted = add_adapters(
            bert(dropout=0.0), "houlsby", bottleneck_size=BOTTLENECK, placements=placements,
        )
        model = PooledTextClassifier(adapted, 2, dropout=0.0)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
    before = [_numpy(w) for w in model.trainable_weights]
    x, y = inputs_for(adapted, batch=GLOBAL_BATCH), np.arange(GLOBAL_BATCH) % 2
    index, count = shard
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shard(count, index)
    model.fit(dataset.batch(GLOBAL_BATCH // count).repeat(steps), epochs=1, verbose=0)
    moved = max(float(np.abs(_numpy(w) - b).max()) for w, b in zip(model.trainable_weights, before))
    return model, moved


def _child_mirrored(out_dir):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from click.testing import CliRunner

    from keras_adapters import load_adapters, save_adapters
    from keras_adapters.cli.main import main
    from keras_adapters.training.distribution import mirrored_strategy

    from helpers import make_tiny_preset

    result = {}
    counting = _counting_reduction(tf)
    strategy = mirrored_strategy(cross_device_ops=counting)
    result["replicas"] = strategy.num_replicas_in_sync
    mirrored, moved = _train_tiny(strategy, PLACEMENTS)
    single, _ = _train_tiny(tf.distribute.get_strategy(), PLACEMENTS)
    pairs = list(zip(mirrored.trainable_weights, single.trainable_weights))
    assert [a.path for a, _ in pairs] == [b.path for _, b in pairs]
    result["compared_weights"] = len(pairs)
    result["max_weight_difference"] = max(
        float(np.abs(np.array(a) - np.array(b)).max()) for a, b in pairs
    )
    result["weights_moved"] = moved
    result["trainable_variables"] = len(mirrored.trainable_weights)
    result["trainable_parameters"] = int(sum(np.prod(w.shape) for w in mirrored.trainable_weights))
    result["total_parameters"] = mirrored.count_params()
    result["all_reduced_bytes_per_step"] = int(counting.bytes.numpy()) // STEPS
    result["all_reduced_tensors_per_step"] = int(counting.tensors.numpy()) // STEPS

    result["embedding_adapter_variables"] = sum(
        w.path.startswith("embedding_adapters/") for w in mirrored.trainable_weights
    )
    path = os.path.join(out_dir, "adapter")
    save_adapters(mirrored, path)
    trained = [np.array(w) for w in mirrored.trainable_weights]
    for w in mirrored.trainable_weights:
        w.assign(np.zeros(w.shape, w.dtype))
    load_adapters(mirrored, path)
    result["reloaded_difference"] = max(
        float(np.abs(np.array(w) - t).max()) for w, t in zip(mirrored.trainable_weights, trained)
    )

    preset = make_tiny_preset(os.path.join(out_dir, "tiny_bert"), WORDS)
    csv = _write_reviews(os.path.join(out_dir, "train.csv"))
    run = os.path.join(out_dir, "run")
    invoked = CliRunner().invoke(main, [
        "train", "--preset", preset, "--dataset", f"csv:{csv}", "--output-dir", run,
        "--epochs", "1", "--batch-size", str(GLOBAL_BATCH), "--sequence-length", "8",
        "--bottleneck", str(BOTTLENECK), "--distribute", "mirrored",
    ])
    result["cli"] = {"exit_code": invoked.exit_code, "output": invoked.output}
    if invoked.exit_code == 0:
        result["cli"]["run_entries"] = sorted(os.listdir(run))
        with open(os.path.join(run, "run.json"), encoding="utf-8") as f:
            result["cli"]["recorded_distribute"] = json.load(f)["config"]["distribute"]
    elif invoked.exception is not None:
        import traceback

        result["cli"]["output"] += "".join(traceback.format_exception(invoked.exception))
    return result


def _child_data_parallel(out_dir, process_id, num_processes, port, preset, csv):
    """One of the JAX processes; process 0 then also trains alone, as the reference.

    Then both run `keras-adapters train --distribute data-parallel` together,
    writing to `run` next to their output folders.
    """
    import keras
    import numpy as np
    from click.testing import CliRunner

    from keras_adapters.cli.main import main

    from keras_adapters.training.distribution import data_parallel

    process_id, num_processes = int(process_id), int(num_processes)
    distribution = data_parallel(f"127.0.0.1:{port}", num_processes, process_id)
    model, moved = _train_tiny(None, ("attention", "feedforward"), shard=(process_id, num_processes))
    result = {
        "devices": len(distribution.device_mesh.devices.flatten()),
        "weights": {w.path: _numpy(w).tolist() for w in model.trainable_weights},
        "moved": moved,
    }
    if process_id == 0:
        from keras_adapters import load_adapters, save_adapters

        # The one writer: its copy of the replicated adapters goes to the file.
        save_adapters(model, os.path.join(out_dir, "adapter"))
        keras.distribution.set_distribution(None)
        alone, _ = _train_tiny(None, ("attention", "feedforward"))
        result["max_difference_to_one_process"] = max(
            float(np.abs(_numpy(a) - _numpy(b)).max())
            for a, b in zip(model.trainable_weights, alone.trainable_weights)
        )
        load_adapters(alone, os.path.join(out_dir, "adapter"))
        result["reloaded_difference"] = max(
            float(np.abs(_numpy(a) - _numpy(b)).max())
            for a, b in zip(model.trainable_weights, alone.trainable_weights)
        )
    invoked = CliRunner().invoke(main, [
        "train", "--preset", preset, "--dataset", f"csv:{csv}",
        "--output-dir", os.path.join(os.path.dirname(out_dir), "run"), "--epochs", "1",
        "--batch-size", str(GLOBAL_BATCH), "--sequence-length", "8", "--bottleneck", str(BOTTLENECK),
        "--distribute", "data-parallel", "--num-processes", str(num_processes),
        "--process-id", str(process_id), "--coordinator", f"127.0.0.1:{port}",
    ])
    result["cli"] = {"exit_code": invoked.exit_code, "output": invoked.output}
    if invoked.exception is not None and invoked.exit_code != 0:
        import traceback

        result["cli"]["output"] += "".join(traceback.format_exception(invoked.exception))
    return result


CHILDREN = {"mirrored": _child_mirrored, "data-parallel": _child_data_parallel}

if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    measured = CHILDREN[mode](out, *sys.argv[3:])
    with open(os.path.join(out, "result.json"), "w", encoding="utf-8") as f:
        json.dump(measured, f, indent=2)
