"""Training-step time of the demo setting on each Keras backend, with and without XLA/compile.

The demo setting: the pretrained all-MiniLM-L6-v2 (`minilm_l6`), Houlsby
adapters, `PooledTextClassifier`, the tasks' AdamW recipe, batch 32,
sequence 48, float32, on the CPU. Each backend runs in its own process
(Keras picks the backend at import), one after the other; in each, a model
compiled with `jit_compile=False` and one with `jit_compile=True` take
`train_on_batch` steps on the same random token batch, interleaved
(`benchmarks.measure.interleaved_medians`), after untimed warm-up steps
(tracing, compilation). Used for docs/backends.md:

    .venv/bin/python tests/backend_step_times.py            # all backends
    KERAS_BACKEND=jax .venv/bin/python tests/backend_step_times.py --this-backend

What `jit_compile` means differs: TensorFlow `False` runs a `tf.function`
graph, `True` XLA; JAX `False` runs op by op (no `jax.jit`), `True`
`jax.jit`; PyTorch `False` runs eagerly, `True` `torch.compile`.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax", "torch")
BATCH_SIZE = 32
SEQUENCE_LENGTH = 48


def measure_this_backend(steps, warmup):
    """Median ms per training step on the current backend: {jit_compile: result}."""
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np

    from benchmarks.measure import interleaved_medians
    from keras_adapters import PooledTextClassifier, add_adapters
    from keras_adapters.pretrained import load_backbone

    rng = np.random.default_rng(0)
    features = {
        "token_ids": rng.integers(1000, 30000, (BATCH_SIZE, SEQUENCE_LENGTH)).astype("int32"),
        "segment_ids": np.zeros((BATCH_SIZE, SEQUENCE_LENGTH), "int32"),
        "padding_mask": np.ones((BATCH_SIZE, SEQUENCE_LENGTH), "int32"),
    }
    labels = rng.integers(0, 2, BATCH_SIZE)
    functions, errors = {}, {}
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        model = PooledTextClassifier(add_adapters(load_backbone("minilm_l6"), "houlsby"), 2, compile=False)
        model.compile(total_steps=1000, jit_compile=jit_compile)
        try:
            model.train_on_batch(features, labels)  # traces / compiles
        except Exception as e:  # a backend's compiler that fails here is a result too
            errors[jit_compile] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            continue
        functions[jit_compile] = lambda model=model: model.train_on_batch(features, labels)
    medians = interleaved_medians(functions, rounds=steps, calls_per_round=1, warmup=warmup)
    result = {str(jit).lower(): {"ms_per_step": round(1000 * m["median_s"], 1), "steps": m["samples"]}
              for jit, m in medians.items()}
    result.update({str(jit).lower(): {"error": error} for jit, error in errors.items()})
    return {"backend": keras.config.backend(), "jit_compile": result}


def measure_all(steps, warmup):
    """Runs every backend in its own process, back to back; prints a Markdown table."""
    rows = []
    for backend in BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
        completed = subprocess.run(
            [sys.executable, __file__, "--this-backend", "--steps", str(steps), "--warmup", str(warmup)],
            env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        if completed.returncode != 0 or not lines:
            rows.append({"backend": backend, "error": completed.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(lines[-1]))
    print("| backend | jit_compile=False (ms/step) | jit_compile=True (ms/step) |")
    print("| --- | --- | --- |")
    for row in rows:
        cells = []
        for jit in ("false", "true"):
            cell = row.get("jit_compile", {}).get(jit, {"error": row.get("error")})
            cells.append(str(cell.get("ms_per_step", f"failed: {cell.get('error')}")))
        print(f"| {row['backend']} | {cells[0]} | {cells[1]} |")
    print(json.dumps(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--this-backend", action="store_true", help="measure KERAS_BACKEND only, print JSON")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setting (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first")
    args = parser.parse_args()
    if args.this_backend:
        print(json.dumps(measure_this_backend(args.steps, args.warmup)))
    else:
        measure_all(args.steps, args.warmup)


if __name__ == "__main__":
    main()
