"""Training-step time of the demo setting on each Keras backend, with and without `jit_compile`.

The demo setting: all-MiniLM-L6-v2 with Houlsby adapters (the `houlsby` arm
of `benchmarks.arms`, its recipe and learning rate), batch 32, sequence 48,
float32, one random token batch (the step's cost does not depend on the
text). Keras picks its backend once, at import, so every measurement is a
fresh process (`python -m benchmarks.backends --worker`, `KERAS_BACKEND`
set): in it, a model compiled with `jit_compile=False` and one with
`jit_compile=True` take `train_on_batch` steps on the same batch,
interleaved (`benchmarks.measure.interleaved_medians`), after untimed
warm-up steps (tracing, compilation). The processes run one at a time, in
`rounds` rounds that each measure every backend (in a rotated order), so
that a change in the machine's load reaches every backend alike; a
setting's result is the median of its rounds' medians.

What `jit_compile` means differs: TensorFlow `False` runs a `tf.function`
graph, `True` XLA; JAX `False` runs op by op, `True` `jax.jit` (XLA);
PyTorch `False` runs eagerly, `True` `torch.compile`. Keras' default
(`"auto"`) is `False` on TensorFlow on a CPU and on PyTorch, `True` on JAX.

The quick run measures a one-block random BERT on a batch of 4 x 16
tokens, `jit_compile=False` only, one round, on TensorFlow only: its
numbers only show that the code runs (compiling costs more than everything
else there: `torch.compile` alone took about 60 s of CPU here).
"""

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

RESULT_FILE = "backends.json"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The Keras backends measured, in the order of the first round.
BACKENDS = ("tensorflow", "jax", "torch")
#: The quick run's: the measuring code path once (tests/test_backends.py runs the library on
#: every backend; three more framework starts in the quick run would only cost suite time).
QUICK_BACKENDS = ("tensorflow",)
BACKEND_LABELS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
#: What `jit_compile=False` / `True` runs on each backend.
JIT_MEANING = {
    "tensorflow": ("tf.function graph", "XLA"),
    "jax": ("op by op", "jax.jit"),
    "torch": ("eager", "torch.compile"),
}
#: Keras' `jit_compile="auto"` on a CPU, per backend (`Trainer._resolve_auto_jit_compile`).
KERAS_DEFAULT_JIT = {"tensorflow": False, "jax": True, "torch": False}
#: The adapter arm measured (`benchmarks.arms`).
ARM = "houlsby"
#: (rounds, timed steps per setting and process, untimed warm-up steps): full, quick. The first
#: step traces; on TensorFlow the second step of the `jit_compile=False` model was still slow
#: here (2.6 s, then 16-34 ms on the quick model) once the other model had traced: a third warms up.
SCHEDULE = {False: (3, 5, 3), True: (1, 2, 2)}
#: The quick run's (batch size, sequence length) and blocks; the full run's come from `Settings`.
QUICK_SHAPE = (4, 16)
QUICK_NUM_LAYERS = 1
#: The `jit_compile` settings measured: full run, quick run.
JIT_SETTINGS = {False: (False, True), True: (False,)}
#: Seconds one measuring process may take (loading, compiling and timing both settings).
PROCESS_TIMEOUT = 1800


def _jit_key(jit_compile):
    return "true" if jit_compile else "false"


def batch_shape(settings):
    """(batch size, sequence length) measured: the demo setting's, or `QUICK_SHAPE`."""
    return QUICK_SHAPE if settings.quick else (settings.batch_size, settings.sequence_length)


def measure_this_backend(settings, steps, warmup):
    """Step times of the run's `jit_compile` settings (`JIT_SETTINGS`) on this process's backend.

    Args:
        settings: the run's `benchmarks.arms.Settings` (backbone, batch
            size, sequence length, seed).
        steps: timed steps per setting.
        warmup: untimed steps per setting before them (the first traces).

    Returns:
        dict: `backend`, `devices`, and `jit_compile` -> {"false"/"true":
        {"ms_per_step", "cpu_ms_per_step", "steps"} or {"error"}}.
    """
    import keras
    import numpy as np

    from benchmarks.arms import build_arm, compile_arm, load_base_backbone
    from benchmarks.measure import interleaved_medians

    rng = np.random.default_rng(settings.seed)
    shape = batch_shape(settings)
    steps_functions, cpu_seconds, errors = {}, {}, {}
    for jit_compile in JIT_SETTINGS[settings.quick]:
        keras.utils.set_random_seed(settings.seed)
        backbone = load_base_backbone(settings, num_layers=QUICK_NUM_LAYERS if settings.quick else None)
        features = {
            "token_ids": rng.integers(1000, backbone.vocabulary_size, shape).astype("int32"),
            "segment_ids": np.zeros(shape, "int32"),
            "padding_mask": np.ones(shape, "int32"),
        }
        labels = rng.integers(0, 2, shape[0])
        model, _ = build_arm(ARM, backbone, 2)
        compile_arm(model, ARM, total_steps=1000, jit_compile=jit_compile)
        try:
            model.train_on_batch(features, labels)  # traces / compiles
        except Exception as error:  # a backend whose compiler fails: a result too
            errors[jit_compile] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            continue
        cpu_seconds[jit_compile] = []

        def step(model=model, features=features, labels=labels, spent=cpu_seconds[jit_compile]):
            started = time.process_time()
            model.train_on_batch(features, labels)
            spent.append(time.process_time() - started)

        steps_functions[jit_compile] = step
    medians = interleaved_medians(steps_functions, rounds=steps, calls_per_round=1, warmup=max(warmup - 1, 0))
    result = {
        _jit_key(jit): {
            "ms_per_step": 1000 * record["median_s"],
            # CPU seconds of all threads: less sensitive to other load than wall time.
            "cpu_ms_per_step": 1000 * statistics.median(cpu_seconds[jit][-steps:]),
            "steps": record["samples"],
        }
        for jit, record in medians.items()
    }
    result.update({_jit_key(jit): {"error": error} for jit, error in errors.items()})
    return {
        "backend": keras.config.backend(),
        "devices": _devices(keras.config.backend()),
        "jit_compile": result,
    }


def _devices(backend):
    """The devices `backend` computes on here (accelerators, else the CPU)."""
    if backend == "jax":
        import jax

        return [str(device) for device in jax.devices()]
    if backend == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
    import tensorflow as tf

    return [device.name for device in tf.config.list_physical_devices("GPU")] or ["cpu"]


def _measure_in_subprocess(backend, settings, steps, warmup):
    """One fresh process on `backend`: its `measure_this_backend` record, or {"error"}."""
    command = [sys.executable, "-m", "benchmarks.backends", "--worker", "--steps", str(steps),
               "--warmup", str(warmup)] + (["--quick"] if settings.quick else [])
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
                                   timeout=PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {PROCESS_TIMEOUT} s"}
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        last = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit status {completed.returncode}: {last[:300]}"}
    return json.loads(lines[-1])


def _summary(records, jit_settings):
    """One backend's rounds -> {"false"/"true": median over rounds, or the error}."""
    summary = {}
    for jit in map(_jit_key, jit_settings):
        measured = [r["jit_compile"][jit] for r in records if "ms_per_step" in r.get("jit_compile", {}).get(jit, {})]
        if not measured:
            errors = [r.get("jit_compile", {}).get(jit, r).get("error") for r in records]
            summary[jit] = {"error": next((e for e in errors if e), "not measured")}
            continue
        summary[jit] = {
            "ms_per_step": round(statistics.median(m["ms_per_step"] for m in measured), 1),
            "cpu_ms_per_step": round(statistics.median(m["cpu_ms_per_step"] for m in measured), 1),
            "round_ms_per_step": [round(m["ms_per_step"], 1) for m in measured],
            "rounds": len(measured),
        }
    return summary


def run_backends(settings, log=print):
    """Measures every backend in fresh processes, rounds interleaved; returns the results dict."""
    from benchmarks.measure import machine_description

    started = time.time()
    rounds, steps, warmup = SCHEDULE[settings.quick]
    backends = QUICK_BACKENDS if settings.quick else BACKENDS
    log(f"== backends: {rounds} round(s) x {len(backends)} processes, {steps} timed steps per setting")
    records = {backend: [] for backend in backends}
    devices = {}
    for round_index in range(rounds):
        # Rotated, so that no backend always runs right after the same one.
        order = backends[round_index % len(backends):] + backends[:round_index % len(backends)]
        # Timed runs one at a time; the quick run's (untimed in effect) side by side.
        with ThreadPoolExecutor(max_workers=len(order) if settings.quick else 1) as pool:
            measured = pool.map(lambda backend: _measure_in_subprocess(backend, settings, steps, warmup), order)
            for backend, record in zip(order, measured):
                records[backend].append(record)
                devices.setdefault(backend, record.get("devices"))
                cells = ", ".join(
                    f"jit_compile={jit}: " + (f"{cell['ms_per_step']:.0f} ms" if "ms_per_step" in cell else cell["error"])
                    for jit, cell in record.get("jit_compile", {"-": record}).items()
                )
                log(f"   round {round_index + 1}, {backend}: {cells}")
    return {
        "kind": "keras-adapters/benchmark-backends",
        "quick": settings.quick,
        "machine": machine_description(),
        "setup": {
            "backbone": (f"random-initialised BERT, {QUICK_NUM_LAYERS} block (MiniLM's vocabulary)"
                         if settings.quick else settings.backbone_description),
            "arm": ARM,
            "batch_size": batch_shape(settings)[0],
            "sequence_length": batch_shape(settings)[1],
            "rounds": rounds,
            "steps_per_round": steps,
            "warmup_steps": warmup,
            "timing": (
                "train_on_batch on one random token batch; each backend in a fresh process per round, "
                "rounds interleaved across backends; per process the two jit_compile settings "
                "interleaved after warm-up; the median of the rounds' median step times"
            ),
        },
        "devices": devices,
        "backends": {backend: _summary(records[backend], JIT_SETTINGS[settings.quick]) for backend in backends},
        "duration_seconds": time.time() - started,
    }


def _cell(record, is_default):
    if record is None:
        return "not measured"
    if "ms_per_step" not in record:
        return f"failed: {record['error']}"
    shown = f"{record['ms_per_step']:.0f} ms"
    return f"{f'**{shown}**' if is_default else shown} ({record['cpu_ms_per_step']:.0f})"


def fastest(result):
    """(backend, jit key, ms per step) of the fastest measured setting, or None."""
    measured = [
        (record["ms_per_step"], backend, jit)
        for backend, settings in result["backends"].items()
        for jit, record in settings.items() if "ms_per_step" in record
    ]
    if not measured:
        return None
    ms, backend, jit = min(measured)
    return backend, jit, ms


def markdown_section(result):
    """The backends table, and which backend is fastest, as markdown."""
    setup = result["setup"]
    lines = [
        f"Training step per Keras backend ({setup['backbone']}, {setup['arm']} adapters, batch "
        f"{setup['batch_size']}, sequence length {setup['sequence_length']}, float32, CPU; median of "
        f"{setup['rounds']} round(s) x {setup['steps_per_round']} steps, each backend in a fresh "
        "process per round, rounds interleaved across backends; in brackets the CPU time of all "
        "threads per step; in bold Keras' default, `jit_compile=\"auto\"`; `python -m benchmarks backends`"
        + (", quick run: these numbers only show that the code runs" if result["quick"] else "")
        + "):",
        "",
        "| backend | `jit_compile=False` | `jit_compile=True` |",
        "|---|---|---|",
    ]
    for backend in (b for b in BACKENDS if b in result["backends"]):
        settings = result["backends"][backend]
        off, on = JIT_MEANING[backend]
        default = _jit_key(KERAS_DEFAULT_JIT[backend])
        cells = [_cell(settings.get(jit), jit == default) for jit in ("false", "true")]
        lines.append(f"| {BACKEND_LABELS[backend]} ({off} / {on}) | {cells[0]} | {cells[1]} |")
    best = fastest(result)
    reference = result["backends"].get("tensorflow", {}).get("false", {})
    if best is not None and "ms_per_step" in reference:
        backend, jit, ms = best
        lines += [
            "",
            f"Fastest here: {BACKEND_LABELS[backend]} with `jit_compile={jit.capitalize()}`, "
            f"{ms:.0f} ms per step, {reference['ms_per_step'] / ms:.2f}x the speed of TensorFlow "
            f"with its CPU default (`jit_compile=False`, {reference['ms_per_step']:.0f} ms).",
        ]
    return "\n".join(lines) + "\n"


#: The docs page whose step-time table `update_backends_page` writes, between these markers.
BACKENDS_PAGE = os.path.join("docs", "backends.md")
PAGE_START = "<!-- backends:start (generated by `python -m benchmarks.backends --update-docs`; do not edit) -->"
PAGE_END = "<!-- backends:end -->"
#: What the page shows before a full run's `backends.json` is committed.
NOT_MEASURED = (
    "Not measured yet. Run `python -m benchmarks backends` (about 10 minutes on 2 quiet cores: 3 "
    "rounds x 3 backends), then `python -m benchmarks.backends --update-docs` writes the table here.\n"
)


def page_block(result):
    """What the docs page shows between its markers for `result` (None: not measured)."""
    return NOT_MEASURED if result is None else markdown_section(result)


def update_backends_page(result, repo_root=REPO_ROOT):
    """Writes `page_block(result)` between the markers of docs/backends.md (atomically)."""
    from keras_adapters.utils.atomic import atomic_file

    path = os.path.join(repo_root, BACKENDS_PAGE)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if PAGE_START not in text or PAGE_END not in text:
        raise ValueError(f"{path} has no step-time markers ({PAGE_START} ... {PAGE_END}).")
    head, rest = text.split(PAGE_START, 1)
    tail = rest.split(PAGE_END, 1)[1]
    with atomic_file(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{PAGE_START}\n{page_block(result)}{PAGE_END}{tail}")


def _main(argv):
    """`--worker`: measure KERAS_BACKEND here, print one JSON line (used by `run_backends`);
    `--update-docs`: write a results directory's backends.json into docs/backends.md."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--worker", action="store_true", help="measure the backend of KERAS_BACKEND")
    action.add_argument("--update-docs", action="store_true", help=f"write the table into {BACKENDS_PAGE}")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=SCHEDULE[False][1])
    parser.add_argument("--warmup", type=int, default=SCHEDULE[False][2])
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "benchmarks", "results"),
                        help="results directory holding backends.json (--update-docs)")
    args = parser.parse_args(argv)
    if args.update_docs:
        with open(os.path.join(args.out, RESULT_FILE), encoding="utf-8") as f:
            result = json.load(f)
        if result["quick"]:
            parser.error("Refusing to put quick-run results into the docs.")
        update_backends_page(result)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from benchmarks.arms import Settings

    print(json.dumps(measure_this_backend(Settings.get(args.quick), args.steps, args.warmup)))


if __name__ == "__main__":
    _main(sys.argv[1:])
