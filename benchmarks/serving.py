"""Serving several tasks: the routed signature against one signature per task.

For 2, 4 and 8 tasks sharing the benchmark backbone (each task a Pfeiffer
adapter, the sharing preset, with its own head of 2 to 5 classes), one
export per task count with `export_multitask_saved_model(...,
routed_signature=True)`, loaded back with `tf.saved_model.load`: the graph
functions a server runs, called in this process.

- Mixed-stream throughput: a stream of single-row requests whose tasks
  arrive in random order is cut into windows of `batch` (32) arrivals, what
  a batching server collects in one batching window. The routed signature
  answers a window with one call; per-task signatures (TF Serving batches
  per signature) answer it with one call per task present, on that task's
  rows only. Rows per second over the whole stream.
- Latency at batch 32: the single-task signature on 32 rows of its task,
  the routed signature on the same 32 rows (all one task), and the routed
  signature on 32 rows mixing every task. Routing overhead: routed mixed
  over single-task.

Where the time goes is split by what differs between the three latencies:
routed single-task minus single-task is the routing itself (the id checks,
the sort and gathers, and at every adapter position one slice per task and a
concatenation: each row runs only its own task's adapters, see
`keras_adapters.export.routing`); routed mixed minus routed single-task is
running each task's adapters and head on its own segment, several small
calls where the single-task batch makes one.

Every routed row is compared with the per-task signature's answer for it
(`max_abs_diff_vs_per_task`). Each figure is given twice: from wall-clock
time, and from this process's CPU time, which other work on a shared
machine disturbs much less.
"""

import os
import statistics
import tempfile
import time

import keras
import numpy as np

from benchmarks.arms import load_base_backbone
from benchmarks.measure import machine_description
from keras_adapters import add_adapters
from keras_adapters.export import ROUTED_SIGNATURE, export_multitask_saved_model
from keras_adapters.tasks import PooledTextClassifier

RESULT_FILE = "serving.json"
BATCH = 32
ADAPTER = "pfeiffer"


def _task_counts(settings):
    # The quick run checks the pipeline, not the numbers: one export.
    return (2,) if settings.quick else (2, 4, 8)


def _tasks(settings, count):
    """`count` tasks on one backbone, adapters and heads randomised (speed does not depend on them)."""
    keras.utils.set_random_seed(settings.seed)
    backbone = add_adapters(load_base_backbone(settings), ADAPTER, name="task_0")
    for k in range(1, count):
        backbone.add_adapter(f"task_{k}", ADAPTER)
    rng = np.random.default_rng(settings.seed)
    tasks = {}
    for k in range(count):
        model = PooledTextClassifier(backbone, 2 + k % 4, name=f"task_{k}_classifier")
        shared = {id(w) for w in backbone.weights}
        for weight in backbone.adapter_weights(f"task_{k}") + [w for w in model.weights if id(w) not in shared]:
            weight.assign(rng.normal(scale=0.02, size=weight.shape).astype("float32"))
        tasks[f"task_{k}"] = model
    return tasks


def _token_rows(settings, rows, seed):
    rng = np.random.default_rng(seed)
    length = settings.sequence_length
    mask = np.ones((rows, length), "int32")
    # Real requests are padded to the batch's longest: some rows shorter.
    for row, kept in enumerate(rng.integers(length // 2, length + 1, rows)):
        mask[row, kept:] = 0
    return {
        "token_ids": (rng.integers(1000, 20000, (rows, length)) * mask).astype("int32"),
        "segment_ids": np.zeros((rows, length), "int32"),
        "padding_mask": mask,
    }


def _measure(settings, count, log):
    import tensorflow as tf

    tasks = _tasks(settings, count)
    windows = 1 if settings.quick else 4
    rows = windows * BATCH
    stream = _token_rows(settings, rows, settings.seed + count)
    task_id = np.random.default_rng(settings.seed + 100 + count).integers(0, count, rows).astype("int32")
    with tempfile.TemporaryDirectory() as base:
        started = time.time()
        exported = export_multitask_saved_model(
            tasks, base, "tasks", routed_signature=True,
            sample_inputs={k: v[:4] for k, v in stream.items()},
        )
        export_seconds = time.time() - started
        size_mb = sum(os.path.getsize(os.path.join(r, f)) for r, _, files in os.walk(exported.path) for f in files) / 1e6
        loaded = tf.saved_model.load(exported.path)  # variables are read in: the directory may go
    signatures = loaded.signatures
    names = list(tasks)
    routed = signatures[ROUTED_SIGNATURE]

    def constant(features):
        return {key: tf.constant(value) for key, value in features.items()}

    routed_calls = [
        constant({**{k: v[w * BATCH:(w + 1) * BATCH] for k, v in stream.items()},
                  "task_id": task_id[w * BATCH:(w + 1) * BATCH]})
        for w in range(windows)
    ]
    per_task_calls = []  # (window, task, rows of the window, inputs)
    for w in range(windows):
        ids = task_id[w * BATCH:(w + 1) * BATCH]
        for k in range(count):
            where = np.flatnonzero(ids == k)
            if len(where):
                per_task_calls.append(
                    (w, k, where, constant({key: v[w * BATCH:(w + 1) * BATCH][where] for key, v in stream.items()}))
                )

    def serve_routed():
        return [routed(**inputs) for inputs in routed_calls]

    def serve_per_task():
        return [signatures[names[k]](**inputs) for _, k, _, inputs in per_task_calls]

    # Correctness: every routed row against its own task's signature.
    routed_logits = [out["logits"].numpy() for out in serve_routed()]
    max_diff = 0.0
    for (w, _, where, _), out in zip(per_task_calls, serve_per_task()):
        own = out["logits"].numpy()
        max_diff = max(max_diff, float(np.abs(routed_logits[w][where, : own.shape[1]] - own).max()))

    rounds = 1 if settings.quick else 4
    log(f"== serving, {count} tasks: stream of {rows} requests in windows of {BATCH}, {rounds} rounds")
    stream_times = _interleaved_wall_and_cpu(
        {"routed": serve_routed, "per_task": serve_per_task}, rounds=rounds, calls_per_round=1
    )
    single = constant({k: v[:BATCH] for k, v in stream.items()})
    single_routed = constant({**{k: v[:BATCH] for k, v in stream.items()}, "task_id": np.zeros(BATCH, "int32")})
    mixed_routed = constant({**{k: v[:BATCH] for k, v in stream.items()},
                             "task_id": (np.arange(BATCH) % count).astype("int32")})
    latency = _interleaved_wall_and_cpu(
        {
            "single_task": lambda: signatures[names[0]](**single),
            "routed_single_task": lambda: routed(**single_routed),
            "routed_mixed": lambda: routed(**mixed_routed),
        },
        rounds=rounds,
        calls_per_round=1 if settings.quick else 2,
    )
    record = {
        "tasks": count,
        "export_seconds": export_seconds,
        "export_mb": size_mb,
        "stream_rows": rows,
        "per_task_calls": len(per_task_calls),
        "per_task_mean_rows": rows / len(per_task_calls),
        "max_abs_diff_vs_per_task": max_diff,
    }
    for clock in ("wall", "cpu"):
        single_s = latency["single_task"][f"{clock}_s"]
        record[clock] = {
            "routed_rows_per_s": rows / stream_times["routed"][f"{clock}_s"],
            "per_task_rows_per_s": rows / stream_times["per_task"][f"{clock}_s"],
            "latency_ms": {name: 1000 * t[f"{clock}_s"] for name, t in latency.items()},
            "routing_overhead": latency["routed_mixed"][f"{clock}_s"] / single_s,
            "routed_single_task_overhead": latency["routed_single_task"][f"{clock}_s"] / single_s,
        }
        record[clock]["throughput_gain"] = record[clock]["routed_rows_per_s"] / record[clock]["per_task_rows_per_s"]
    for clock in ("wall", "cpu"):
        r = record[clock]
        log(
            f"   [{clock}] routed {r['routed_rows_per_s']:.0f} rows/s vs per-task {r['per_task_rows_per_s']:.0f} "
            f"({r['throughput_gain']:.2f}x); batch-{BATCH} latency: single-task "
            f"{r['latency_ms']['single_task']:.1f} ms, routed one task "
            f"{r['latency_ms']['routed_single_task']:.1f} ms, routed mixed "
            f"{r['latency_ms']['routed_mixed']:.1f} ms ({r['routing_overhead']:.2f}x)"
        )
    keras.backend.clear_session()
    return record


def _interleaved_wall_and_cpu(functions, rounds, calls_per_round):
    """Medians per call of wall time and of this process's CPU time, interleaved.

    As `benchmarks.measure.interleaved_medians` (one untimed warm-up call
    each, then rounds in turn), plus CPU seconds (`time.process_time`, every
    thread of this process): on a machine shared with other work, wall time
    includes waiting for a core, CPU time much less so.

    Returns:
        dict name -> {"wall_s", "cpu_s", "samples"}.
    """
    for function in functions.values():
        function()
    samples = {name: ([], []) for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            for _ in range(calls_per_round):
                wall, cpu = time.perf_counter(), time.process_time()
                function()
                samples[name][0].append(time.perf_counter() - wall)
                samples[name][1].append(time.process_time() - cpu)
    return {
        name: {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "samples": len(walls)}
        for name, (walls, cpus) in samples.items()
    }


def run_serving(settings, log=print):
    """Measures every task count; returns the results dict."""
    started = time.time()
    results = [_measure(settings, count, log) for count in _task_counts(settings)]
    return {
        "kind": "keras-adapters/benchmark-serving",
        "quick": settings.quick,
        "machine": machine_description(),
        "setup": {
            "backbone": settings.backbone_description,
            "sequence_length": settings.sequence_length,
            "batch_size": BATCH,
            "adapter": f"{ADAPTER} per task (layer norms frozen), heads of 2 to 5 classes",
            "stream": (
                "single-row requests in random task order, answered per window of "
                f"{BATCH} arrivals: one routed call, or one per-task call per task present"
            ),
            "timing": (
                "tf.saved_model.load signatures in this process; medians of interleaved rounds, "
                "wall-clock and CPU time of this process"
            ),
            "target": "routed mixed batch of 8 tasks within 1.15x of a single-task batch's latency",
        },
        "results": results,
        "duration_seconds": time.time() - started,
    }


#: The issue's target: a routed mixed batch of this many tasks within this latency ratio.
TARGET_TASKS, TARGET_OVERHEAD = 8, 1.15


def markdown_section(result):
    """The report's section on serving several tasks (`serving.json`), markdown.

    Args:
        result: what `run_serving` returned.

    Returns:
        A paragraph, a table per task count (wall and CPU time), the target
        row and where the time goes.
    """
    setup = result["setup"]
    lines = [
        f"Serving several tasks in one batch ({setup['backbone']}, sequence length {setup['sequence_length']}, "
        f"{setup['adapter']}; {setup['stream']}; {setup['timing']}; `python -m benchmarks serving`, "
        f"{result['duration_seconds']:.0f} s, commit {result['machine']['git_commit']}):",
        "",
        f"| tasks | clock | routed signature (rows/s) | per-task signatures (rows/s) | gain | latency at batch "
        f"{setup['batch_size']}: single-task / routed, one task / routed, mixed | routing overhead | "
        "max difference vs per-task |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for record in result["results"]:
        for clock in ("wall", "cpu"):
            r = record[clock]
            ms = r["latency_ms"]
            lines.append(
                f"| {record['tasks']} | {clock} | {r['routed_rows_per_s']:,.0f} | {r['per_task_rows_per_s']:,.0f} | "
                f"{r['throughput_gain']:.2f}x | {ms['single_task']:.1f} / {ms['routed_single_task']:.1f} / "
                f"{ms['routed_mixed']:.1f} ms | {r['routing_overhead']:.2f}x | "
                f"{record['max_abs_diff_vs_per_task']:.1e} |"
            )
    judged = max(result["results"], key=lambda record: record["tasks"])
    wall, cpu = judged["wall"], judged["cpu"]
    met = wall["routing_overhead"] <= TARGET_OVERHEAD
    lines += [
        "",
        f"Target: a routed mixed batch of {TARGET_TASKS} tasks within {TARGET_OVERHEAD:.2f}x of a single-task "
        f"batch's latency. Measured with {judged['tasks']} tasks"
        + ("" if judged["tasks"] == TARGET_TASKS else f" (this run measured no {TARGET_TASKS})")
        + f": {wall['routing_overhead']:.2f}x wall, {cpu['routing_overhead']:.2f}x CPU"
        + (f": {'met' if met else '**missed**'}." if judged["tasks"] >= TARGET_TASKS else ", not judged.")
        + f" Where the time goes ({judged['tasks']} tasks, CPU time): the routing itself (the routed "
        f"signature on one task's rows against the single-task signature: the id checks, the sort and gathers, "
        f"and a slice per task and a concatenation at each adapter position) {cpu['routed_single_task_overhead']:.2f}x; "
        "the rest of the mixed batch's overhead is running each task's adapters and head on its own rows "
        "(several small calls instead of one).",
    ]
    return "\n".join(lines) + "\n"
