"""Does Keras 3 train under `tf.distribute.MultiWorkerMirroredStrategy` here? (keras-team/keras#20585)

Not a measurement: a check of the installed TensorFlow and Keras, recorded
in docs/howto/many-devices.md. It starts 2 worker processes on 127.0.0.1,
each with its `TF_CONFIG` (a cluster of the 2 workers), builds a tiny Keras
model (a two-layer `Sequential`, then a tiny BERT with keras-adapters'
Houlsby adapters) under the strategy's scope and calls
`model.fit` on a dataset of global batches. Each worker writes what
happened (versions, replicas, losses or the error and the frames it went
through) to a JSON file; every process is bounded by `--timeout` and
stopped at the end. Prints the summary as JSON.

    .venv/bin/python -m benchmarks.multi_worker_mirrored [--timeout 300]
"""

import json
import os
import sys
import tempfile
import time

GLOBAL_BATCH = 16
STEPS = 4


def _model(kind, rng):
    """A compiled model of `kind` and its dataset of global batches (call in the strategy's scope)."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    labels = rng.integers(0, 2, GLOBAL_BATCH * STEPS).astype("int32")
    if kind == "plain":
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.SGD(0.1),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        features = rng.normal(size=(GLOBAL_BATCH * STEPS, 4)).astype("float32")
    else:
        import keras_hub

        from keras_adapters import add_adapters
        from keras_adapters.tasks import PooledTextClassifier

        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
            max_sequence_length=8, dropout=0.0,
        )
        model = PooledTextClassifier(add_adapters(backbone, "houlsby", bottleneck_size=4), 2, dropout=0.0)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        tokens = rng.integers(1, 64, (GLOBAL_BATCH * STEPS, 8)).astype("int32")
        features = {"token_ids": tokens, "segment_ids": np.zeros_like(tokens), "padding_mask": np.ones_like(tokens)}
    return model, tf.data.Dataset.from_tensor_slices((features, labels)).batch(GLOBAL_BATCH).repeat()


def worker(index, ports, out):
    """One worker: the strategy, then `fit` on each model; writes `out`."""
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    })
    result = {"index": index}

    def save():
        with open(out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)

    import tensorflow as tf

    # The strategy first: it must start before TensorFlow runs anything.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras
    import numpy as np

    keras.config.disable_traceback_filtering()  # record the frames inside Keras too
    result.update(tensorflow=tf.__version__, keras=keras.__version__, replicas=strategy.num_replicas_in_sync)
    save()
    for kind in ("plain", "adapters"):
        stage = result[kind] = {}
        started = time.time()
        try:
            with strategy.scope():
                model, dataset = _model(kind, np.random.default_rng(0))
            history = model.fit(dataset, epochs=2, steps_per_epoch=STEPS, verbose=0)
            stage.update(ok=True, loss=[float(v) for v in history.history["loss"]])
        except Exception as error:  # noqa: BLE001 (what happens is the result)
            import traceback

            lines = str(error).strip().splitlines() or [""]
            # The first and last line: a PerReplica value's repr prints its tensors in between.
            message = lines[0][:200] + (f" ... {lines[-1][:200]}" if len(lines) > 1 else "")
            stage.update(ok=False, error=f"{type(error).__name__}: {message}",
                         frames=[line.strip() for line in traceback.format_exc().splitlines()
                                 if line.lstrip().startswith("File ")])
        stage["seconds"] = round(time.time() - started, 1)
        save()


def main(timeout):
    """Starts the 2 workers, waits at most `timeout` seconds, stops them; returns the summary."""
    # Here, not at the top: importing keras_adapters loads TensorFlow, which the workers
    # (this module too) import only once their TF_CONFIG is set.
    from keras_adapters.utils.local_processes import free_ports, run_together

    ports = free_ports(2)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    started = time.time()
    with tempfile.TemporaryDirectory() as directory:
        commands = [[sys.executable, "-m", "benchmarks.multi_worker_mirrored", "--worker", str(index),
                     *map(str, ports), os.path.join(directory, f"worker{index}.json")] for index in (0, 1)]
        ended = run_together(commands, timeout, envs=[env, env])
        exits = [f"stopped after {timeout} s" if worker.returncode is None else worker.returncode
                 for worker in ended]
        workers = []
        for index in (0, 1):
            path = os.path.join(directory, f"worker{index}.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    workers.append(json.load(f))
            else:
                workers.append(None)
    return {"ports": ports, "exit_status": exits, "seconds": round(time.time() - started, 1), "workers": workers}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.multi_worker_mirrored",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300, help="seconds the workers may take together")
    parser.add_argument("--worker", nargs=4, metavar=("INDEX", "PORT0", "PORT1", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        index, port0, port1, out = args.worker
        worker(int(index), [int(port0), int(port1)], out)
    else:
        print(json.dumps(main(args.timeout), indent=1))
