"""Scaling out: throughput against replicas, and what data-parallel training all-reduces per step.

Two things, both `python -m benchmarks.scaling_out` and `python -m benchmarks scaling-out`:

**Throughput** (`run_scaling_out`, the benchmark part `scaling-out`, written
to `scaling_out.json`): examples per second of training the benchmark's
`houlsby` arm (`benchmarks.arms`: its model, recipe and learning rate) at
the same global batch (`Settings.batch_size`, sequence length
`Settings.sequence_length`, one random token batch: a step's cost does not
depend on the text) on 1 and 2 replicas of this machine:

- TensorFlow, `tf.distribute.MirroredStrategy` (`mirrored_strategy`, what
  `keras-adapters train --distribute mirrored` uses) over 1 and 2 logical
  CPU devices. Logical devices must be configured before TensorFlow starts,
  so they are measured in a fresh process (`--worker tensorflow`) that
  splits the CPU into 2 logical devices and mirrors over the first one or
  both. The full run also measures one device without a strategy, with and
  without XLA (`train --distribute none`'s default is XLA; Keras does not
  compile with XLA under a strategy). The settings are timed in
  interleaved rounds in that one process, so a change in the machine's load
  reaches each alike: TensorFlow's logical CPU devices share the process's
  thread pools, so a 1-replica strategy on `/cpu:0` computes as it would
  in a process with one logical device.
- JAX (full run only): `keras.distribution.DataParallel` through
  `keras_adapters.training.distribution.data_parallel` (what `train
  --distribute data-parallel` uses, and the two-process test), one process,
  then two processes on 127.0.0.1, each feeding half of every global batch
  (`--worker jax`, one process per member); measured one after the other.
- With a GPU visible to TensorFlow, the same TensorFlow settings on the
  GPUs instead of logical CPU devices (`--worker tensorflow --gpu`).

Each setting is trained with `fit` on its own copy of the model; a callback
takes the time between consecutive step ends (the first step of every `fit`
call is the reference, untimed), after untimed warm-up steps (tracing, XLA
compilation). A setting's step time is the median over its rounds' steps;
its CPU time (all threads, all its processes) per step says how many cores
it kept busy. On a machine with 2 cores the replicas share those 2 cores
(TensorFlow's logical devices one thread pool, JAX's processes the cores):
the numbers show what the distributed path costs or gains on one small
machine, not what 2 real devices give.

The quick run (`--quick`: the tiny random backbone, a few steps) measures
MirroredStrategy on 1 and 2 logical devices in one fresh process; its
numbers only show that the code runs.

**Sizing** (`--sizing`): data-parallel training sums every trainable
variable's gradient across replicas once per step, so the traffic per step
is 4 bytes (float32) x the trainable parameters. `sizing_rows` computes it
from parameter counts of KerasHub backbones built from their published
configs (random weights, nothing downloaded) with keras-adapters' adapters
inserted; tests/test_distributed.py measures the all-reduced bytes on a
tiny model and finds exactly this.

    python -m benchmarks scaling-out [--quick] [--out DIR]   # scaling_out.json
    python -m benchmarks.scaling_out --sizing   # the table of docs/howto/many-devices.md
"""

import itertools
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RESULT_FILE = "scaling_out.json"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The adapter arm trained (`benchmarks.arms`).
ARM = "houlsby"
NUM_CLASSES = 2
#: Replica counts measured (logical CPU devices; JAX processes).
REPLICAS = (1, 2)
#: (rounds, timed steps per round and setting, untimed warm-up steps in the first
#: `fit`; `_warm_up` adds a second `fit` of 2): full, quick. Three: on TensorFlow
#: the second step after tracing was still slow (benchmarks.backends).
SCHEDULE = {False: (5, 4, 3), True: (1, 2, 1)}
#: Seconds one measuring process may take (loading, tracing, compiling and timing).
PROCESS_TIMEOUT = 1800

#: Published configurations (keras-hub presets bert_base_en_uncased and
#: gpt2_medium_en), built with random weights.
SIZING_MODELS = {
    "BERT-base": ("BertBackbone", dict(
        vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
        intermediate_dim=3072, max_sequence_length=512)),
    "GPT-2 medium": ("GPT2Backbone", dict(
        vocabulary_size=50257, num_layers=24, num_heads=16, hidden_dim=1024,
        intermediate_dim=4096, max_sequence_length=1024)),
}
#: Adapter settings of the table: the `train` default (Houlsby, bottleneck
#: 64, layer norms trained) and LoRA (rank 8 on query and value).
SIZING_ADAPTERS = {"houlsby (bottleneck 64)": ("houlsby", {"bottleneck_size": 64}),
                   "lora (rank 8)": ("lora", {})}
#: The sizing table's head has two classes (`NUM_CLASSES`), as a sentiment task.


def sizing_rows():
    """Gradient bytes all-reduced per step for full fine-tuning and adapters.

    Returns:
        A list of dicts: `model`, `method`, `trainable` and `total`
        parameters, `all_reduce_bytes` (4 x trainable) and `ratio` (full
        fine-tuning's bytes / this method's).
    """
    import keras
    import keras_hub

    from keras_adapters import add_adapters, count_parameters
    from keras_adapters.tasks import PooledTextClassifier

    rows = []
    for model_name, (class_name, config) in SIZING_MODELS.items():
        backbone = getattr(keras_hub.models, class_name)(**config)
        full = PooledTextClassifier(backbone, NUM_CLASSES)
        full_count = count_parameters(full)
        rows.append({"model": model_name, "method": "full fine-tuning",
                     "trainable": full_count.total, "total": full_count.total})
        for method, (preset, overrides) in SIZING_ADAPTERS.items():
            counts = count_parameters(
                PooledTextClassifier(add_adapters(backbone, preset, **overrides), NUM_CLASSES)
            )
            rows.append({"model": model_name, "method": method,
                         "trainable": counts.trainable, "total": counts.total})
        del backbone, full
        keras.backend.clear_session()
    for row in rows:
        full = next(r for r in rows if r["model"] == row["model"] and r["method"] == "full fine-tuning")
        row["all_reduce_bytes"] = 4 * row["trainable"]
        row["ratio"] = full["trainable"] / row["trainable"]
    return rows


def sizing_markdown(rows):
    """The sizing table as Markdown."""
    lines = [
        "| model | what trains | trainable parameters | share | all-reduce per step (float32) | vs full |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['method']} | {row['trainable']:,} | "
            f"{100 * row['trainable'] / row['total']:.2f}% | {row['all_reduce_bytes'] / 1e6:,.2f} MB | "
            f"{row['ratio']:.0f}x smaller |".replace("| 1x smaller |", "| 1x |")
        )
    return "\n".join(lines)



# -- Throughput: what each measuring process runs ----------------------------------------


class _StepClock:
    """A Keras callback's clock: wall and CPU time at every step end.

    A callback that is not `async_safe` keeps Keras from running callbacks
    on another thread, and Keras turns the step's logs into Python floats
    before calling it, which waits for the step (JAX dispatches
    asynchronously).
    """

    def __init__(self):
        import keras

        ends = self.ends = []

        class Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                ends.append((time.perf_counter(), time.process_time()))

        self.callback = Callback()

    def intervals(self):
        """(wall seconds, CPU seconds) between consecutive step ends, then forgets them."""
        ends, self.ends[:] = list(self.ends), []
        return [(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(ends)]


def _token_batch(settings, vocabulary_size):
    """One random global batch: features (int32 arrays) and labels, the same in every process."""
    import numpy as np

    rng = np.random.default_rng(settings.seed)
    shape = (settings.batch_size, settings.sequence_length)
    features = {
        "token_ids": rng.integers(1000, vocabulary_size, shape).astype("int32"),
        "segment_ids": np.zeros(shape, "int32"),
        "padding_mask": np.ones(shape, "int32"),
    }
    return features, rng.integers(0, NUM_CLASSES, shape[0]).astype("int32")


def _repeated_batches(features, labels, batch_size):
    """The same examples batched over and over: a `tf.data.Dataset` for `fit`."""
    import tensorflow as tf  # tf.data is the input pipeline, as in `train`

    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).repeat()
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _compiled_model(settings, jit_compile):
    """The arm's classifier, compiled (in the caller's strategy scope or distribution), and its vocabulary size."""
    import keras

    from benchmarks.arms import build_arm, compile_arm, load_base_backbone

    keras.utils.set_random_seed(settings.seed)
    backbone = load_base_backbone(settings)
    vocabulary_size = backbone.vocabulary_size
    model, _ = build_arm(ARM, backbone, NUM_CLASSES)
    compile_arm(model, ARM, total_steps=1000, jit_compile=jit_compile)
    return model, vocabulary_size


def _fit_steps(model, dataset, clock, steps):
    """Trains `steps` timed steps (plus the untimed first one); returns their intervals."""
    model.fit(dataset, epochs=1, steps_per_epoch=steps + 1, verbose=0, callbacks=[clock.callback])
    return clock.intervals()


def _warm_up(model, dataset, clock, steps):
    """Untimed: `steps` steps in one `fit` (tracing, compiling), then 2 in another.

    The second `fit` warms up what a later `fit` call meets anew: in Keras
    on JAX a `fit` call's second step ran several seconds longer than the
    others (a compilation for the state that step one returns).
    """
    _fit_steps(model, dataset, clock, steps - 1)
    _fit_steps(model, dataset, clock, 1)


def _summary(samples, batch_size):
    """A setting's record from its (wall, CPU) step samples."""
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    return {
        "ms_per_step": round(1000 * wall, 2),
        "examples_per_s": round(batch_size / wall, 2),
        "cpu_ms_per_step": round(1000 * cpu, 2),
        "cores_busy": round(cpu / wall, 2),
        "steps": len(samples),
    }


def tensorflow_devices(gpu=False):
    """The devices TensorFlow's settings mirror over; call it before TensorFlow has started.

    Args:
        gpu: the GPUs; otherwise the CPU, split here into `max(REPLICAS)`
            logical devices (which only works before TensorFlow has
            initialised its devices: nothing may compute before).

    Returns:
        The logical devices' names.

    Raises:
        RuntimeError: with `gpu`, when TensorFlow sees no GPU.
    """
    import tensorflow as tf

    if gpu:
        devices = [device.name for device in tf.config.list_logical_devices("GPU")]
        if not devices:
            raise RuntimeError("--gpu: TensorFlow sees no GPU.")
        return devices
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(max(REPLICAS))]
    )
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def measure_tensorflow(settings, devices):
    """TensorFlow's settings in this process, timed in interleaved rounds.

    Args:
        settings: the run's `benchmarks.arms.Settings`.
        devices: what `tensorflow_devices` returned.

    Returns:
        dict: `devices`, `settings` -> {"strategy", "replicas",
        "jit_compile", and `_summary`'s fields}.
    """
    from keras_adapters.training.distribution import mirrored_strategy

    rounds, steps, warmup = SCHEDULE[settings.quick]
    plans = {}  # name -> (strategy or None, jit_compile, replicas)
    if not settings.quick:
        if settings.jit_compile:
            plans["one device, XLA"] = (None, True, 1)
        plans["one device"] = (None, False, 1)
    for replicas in REPLICAS:
        if replicas <= len(devices):
            # Keras does not compile with XLA under a tf.distribute strategy.
            plans[f"mirrored, {replicas}"] = (mirrored_strategy(devices[:replicas]), False, replicas)
    runs = {}
    for name, (strategy, jit_compile, replicas) in plans.items():
        if strategy is None:
            model, vocabulary_size = _compiled_model(settings, jit_compile)
        else:
            with strategy.scope():
                model, vocabulary_size = _compiled_model(settings, jit_compile)
        dataset = _repeated_batches(*_token_batch(settings, vocabulary_size), settings.batch_size)
        clock = _StepClock()
        _warm_up(model, dataset, clock, warmup)
        runs[name] = (model, dataset, clock, [])
    for _ in range(rounds):
        for model, dataset, clock, samples in runs.values():
            samples += _fit_steps(model, dataset, clock, steps)
    return {
        "devices": devices,
        "settings": {
            name: {
                "strategy": "none" if strategy is None else "MirroredStrategy",
                # What the strategy split each step across, not what was asked for.
                "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
                "jit_compile": runs[name][0].jit_compile,
                **_summary(runs[name][3], settings.batch_size),
            }
            for name, (strategy, _, _) in plans.items()
        },
    }


def measure_jax(settings, processes, process_id, coordinator):
    """One member of a JAX data-parallel run: its step times.

    Joins the processes with `keras_adapters.training.distribution.data_parallel`
    (one process: `DataParallel` over its one CPU device), builds and
    compiles the arm (`jax.jit`), and feeds its share of every global batch.

    Args:
        settings: the run's `benchmarks.arms.Settings`.
        processes, process_id, coordinator: as `data_parallel` takes them.

    Returns:
        dict: `devices` (of the whole mesh), `process_id`, and `_summary`'s fields.
    """
    from keras_adapters.training.distribution import data_parallel

    distribution = data_parallel(coordinator, processes, process_id)
    rounds, steps, warmup = SCHEDULE[settings.quick]
    model, vocabulary_size = _compiled_model(settings, jit_compile=True)
    features, labels = _token_batch(settings, vocabulary_size)
    share = settings.batch_size // processes
    part = slice(process_id * share, (process_id + 1) * share)
    dataset = _repeated_batches({k: v[part] for k, v in features.items()}, labels[part], share)
    clock = _StepClock()
    _warm_up(model, dataset, clock, warmup)
    samples = []
    for _ in range(rounds):
        samples += _fit_steps(model, dataset, clock, steps)
    return {
        "devices": [str(device) for device in distribution.device_mesh.devices.flatten()],
        "process_id": process_id,
        **_summary(samples, settings.batch_size),
    }


# -- Throughput: the part ------------------------------------------------------------------


def _worker_command(settings, *arguments):
    return [sys.executable, "-m", "benchmarks.scaling_out", "--worker", *arguments] + (
        ["--quick"] if settings.quick else []
    )


def _json_line(stdout):
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def _failure(returncode, output):
    last = (output.strip().splitlines() or ["(no output)"])[-1]
    return f"exit status {returncode}: {last[:300]}"


def _run_tensorflow_worker(settings, gpu):
    """The TensorFlow worker's record; on the CPU it hides the GPUs from it."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if gpu:
        # The parent (the quick run) may hold GPU memory already.
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""
    command = _worker_command(settings, "tensorflow") + (["--gpu"] if gpu else [])
    try:
        completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                   timeout=PROCESS_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {PROCESS_TIMEOUT} s"}
    record = _json_line(completed.stdout) if completed.returncode == 0 else None
    return record or {"error": _failure(completed.returncode, completed.stderr)}


def _run_jax_workers(settings, processes):
    """`processes` JAX processes on 127.0.0.1 (all started here, all stopped here).

    Returns:
        Process 0's record, its `cpu_ms_per_step` and `cores_busy` summed
        over the processes; or {"error"}.
    """
    # Here, not at the top: importing keras_adapters loads Keras, and each worker picks its backend first.
    from keras_adapters.utils.local_processes import free_ports, run_together

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    coordinator = f"127.0.0.1:{free_ports(1)[0]}"
    commands = [_worker_command(settings, "jax", "--processes", str(processes), "--process-id", str(index),
                                "--coordinator", coordinator) for index in range(processes)]
    records = []
    for member in run_together(commands, PROCESS_TIMEOUT, envs=[env] * processes, cwd=REPO_ROOT):
        if member.returncode is None:
            return {"error": f"no result within {PROCESS_TIMEOUT} s"}
        record = _json_line(member.stdout) if member.returncode == 0 else None
        if record is None:
            return {"error": _failure(member.returncode, member.stderr)}
        records.append(record)
    first = dict(records[0])
    first["cpu_ms_per_step"] = round(sum(r["cpu_ms_per_step"] for r in records), 2)
    first["cores_busy"] = round(first["cpu_ms_per_step"] / first["ms_per_step"], 2)
    first["examples_per_s_per_process"] = [r["examples_per_s"] for r in records]
    return first


def _visible_gpus():
    import tensorflow as tf

    return [device.name for device in tf.config.list_physical_devices("GPU")]


def run_scaling_out(settings, log=print):
    """Measures throughput against replicas on this machine; returns the results dict.

    Every measurement runs in processes started here (see the module's
    docstring): TensorFlow's settings in one, JAX's (full run) one and two.

    Args:
        settings: the run's `benchmarks.arms.Settings`.
        log: where progress lines go.

    Returns:
        The `scaling_out.json` dict: `setup`, `results` (one row per
        setting: `engine`, `device`, `setting`, `replicas`, `processes`,
        `jit_compile` and the step time, throughput and CPU time, or an
        `error`), `caveat`.

    Raises:
        RuntimeError: when the TensorFlow CPU measurement fails.
    """
    from benchmarks.measure import machine_description

    started = time.time()
    rounds, steps, warmup = SCHEDULE[settings.quick]
    gpus = _visible_gpus()
    log(f"== scaling-out: {settings.batch_size} examples per global step, {rounds} round(s) x {steps} "
        f"timed steps per setting; GPUs: {', '.join(gpus) or 'none'}")
    rows = []
    measured = _run_tensorflow_worker(settings, gpu=False)
    if "error" in measured:
        raise RuntimeError(f"The TensorFlow measurement of scaling-out failed: {measured['error']}")
    devices = {"tensorflow-cpu": measured["devices"]}
    for name, record in measured["settings"].items():
        rows.append({"engine": "tensorflow", "device": "cpu", "setting": name, "processes": 1, **record})
    if gpus:
        measured = _run_tensorflow_worker(settings, gpu=True)
        if "error" in measured:
            rows.append({"engine": "tensorflow", "device": "gpu", "setting": "every setting", **measured})
        for name, record in measured.get("settings", {}).items():
            rows.append({"engine": "tensorflow", "device": "gpu", "setting": name, "processes": 1, **record})
        devices["tensorflow-gpu"] = measured.get("devices")
    if not settings.quick:
        for processes in REPLICAS:
            record = _run_jax_workers(settings, processes)
            rows.append({"engine": "jax", "device": "cpu", "setting": f"data-parallel, {processes}",
                         "strategy": "DataParallel", "replicas": len(record.get("devices", [])) or None,
                         "processes": processes, "jit_compile": True, **record})
    for row in rows:
        shown = f"{row['examples_per_s']:.1f} examples/s ({row['ms_per_step']:.0f} ms/step, " \
                f"{row['cores_busy']:.2f} cores busy)" if "error" not in row else row["error"]
        log(f"   {row['engine']} {row['device']} {row['setting']}: {shown}")
    cores = os.cpu_count()
    return {
        "kind": "keras-adapters/benchmark-scaling-out",
        "quick": settings.quick,
        "machine": machine_description(),
        "setup": {
            "backbone": settings.backbone_description,
            "arm": ARM,
            "batch_size": settings.batch_size,
            "sequence_length": settings.sequence_length,
            "rounds": rounds,
            "steps_per_round": steps,
            "warmup_steps": warmup + 2,  # `_warm_up`: in two fit calls
            "timing": (
                "fit on one random global batch repeated; time between consecutive step ends "
                "(the first step of each fit untimed), after untimed warm-up steps in two fit calls; TensorFlow's "
                "settings in one process, in interleaved rounds; JAX's one process, then two, "
                "one after the other; the median over every timed step"
            ),
        },
        "devices": devices,
        "results": rows,
        "caveat": (
            f"{cores} CPU core(s) here: the replicas share them (TensorFlow's logical CPU "
            "devices one thread pool, JAX's processes the same cores), so 2 replicas cannot "
            "compute faster than one process using every core; these numbers measure the cost "
            "of the distributed path on one machine, not the speed-up of 2 real devices"
        ),
        "duration_seconds": time.time() - started,
    }


def _speedups(result):
    """Each row's throughput over its engine and device's 1-replica strategy row."""
    base = {
        (row["engine"], row["device"]): row["examples_per_s"]
        for row in result["results"]
        if row.get("replicas") == 1 and row.get("strategy") in ("MirroredStrategy", "DataParallel")
        and "examples_per_s" in row
    }
    return [
        row["examples_per_s"] / base[(row["engine"], row["device"])]
        if "examples_per_s" in row and (row["engine"], row["device"]) in base and row.get("strategy") != "none"
        else None
        for row in result["results"]
    ]


ENGINE_LABELS = {
    ("tensorflow", "MirroredStrategy"): "TensorFlow, MirroredStrategy",
    ("tensorflow", "none"): "TensorFlow, no strategy",
    ("jax", "DataParallel"): "JAX, DataParallel",
}


def markdown_section(result):
    """The report's section on throughput against replicas (`scaling_out.json`), markdown.

    Args:
        result: what `run_scaling_out` returned.

    Returns:
        A paragraph, the table (one row per setting) and the caveat.
    """
    setup = result["setup"]
    lines = [
        f"Training throughput against replicas on this machine ({setup['backbone']}, {setup['arm']} "
        f"adapters, global batch {setup['batch_size']}, sequence length {setup['sequence_length']}; "
        f"{setup['timing']}; {setup['rounds']} round(s) x {setup['steps_per_round']} steps after "
        f"{setup['warmup_steps']} warm-up; `python -m benchmarks scaling-out`, "
        f"{result['duration_seconds']:.0f} s, commit {result['machine']['git_commit']}"
        + ("; quick run: these numbers only show that the code runs" if result["quick"] else "")
        + "):",
        "",
        ("| engine | device | replicas (processes) | XLA | ms per step | examples/s | vs 1 replica "
         "| CPU cores busy |"),
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for row, speedup in zip(result["results"], _speedups(result)):
        label = ENGINE_LABELS.get((row["engine"], row.get("strategy")), row["engine"])
        if "error" in row:
            lines.append(f"| {label} | {row['device'].upper()} | {row['setting']} | | failed: {row['error']} | | | |")
            continue
        lines.append(
            f"| {label} | {row['device'].upper()} | {row['replicas']} ({row['processes']}) | "
            f"{'yes' if row['jit_compile'] else 'no'} | {row['ms_per_step']:.0f} | "
            f"{row['examples_per_s']:.1f} | {'' if speedup is None else f'{speedup:.2f}x'} | "
            f"{row['cores_busy']:.2f} |"
        )
    measured = [row for row in result["results"] if row["device"] == "cpu" and "examples_per_s" in row]
    one = max((row for row in measured if row["replicas"] == 1), key=lambda row: row["examples_per_s"], default=None)
    two = max((row for row in measured if row["replicas"] == 2), key=lambda row: row["examples_per_s"], default=None)
    if one is not None and two is not None:
        lines += ["", (
            f"On the CPU, the fastest 2-replica setting ({ENGINE_LABELS[(two['engine'], two['strategy'])]}, "
            f"{two['examples_per_s']:.1f} examples/s) against the fastest 1-replica one "
            f"({ENGINE_LABELS[(one['engine'], one['strategy'])]}{', XLA' if one['jit_compile'] else ''}, "
            f"{one['examples_per_s']:.1f} examples/s): {two['examples_per_s'] / one['examples_per_s']:.2f}x."
        )]
    lines += ["", f"Caveat: {result['caveat']}."]
    return "\n".join(lines) + "\n"


# -- Command line ------------------------------------------------------------------------------


def _main(argv):
    """`--sizing`: print the sizing table; `--worker ENGINE`: measure here, print one JSON line."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling_out", description=__doc__.splitlines()[0],
        epilog="The throughput part runs as `python -m benchmarks scaling-out`.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--sizing", action="store_true",
                        help="print the all-reduce sizing table of docs/howto/many-devices.md")
    action.add_argument("--worker", choices=("tensorflow", "jax"),
                        help="(used by `run_scaling_out`) measure here, print one JSON line")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--gpu", action="store_true", help="tensorflow worker: on the GPUs")
    parser.add_argument("--processes", type=int, default=1, help="jax worker: processes in the run")
    parser.add_argument("--process-id", type=int, default=0, help="jax worker: this one's index")
    parser.add_argument("--coordinator", default=None, help="jax worker: HOST:PORT of process 0")
    args = parser.parse_args(argv)
    if args.sizing:
        print(sizing_markdown(sizing_rows()))
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker == "tensorflow":
        # Before anything (Keras, KerasHub) may start TensorFlow's devices.
        devices = tensorflow_devices(gpu=args.gpu)
        from benchmarks.arms import Settings

        print(json.dumps(measure_tensorflow(Settings.get(args.quick), devices)))
    else:
        from benchmarks.arms import Settings

        print(json.dumps(measure_jax(Settings.get(args.quick), args.processes, args.process_id,
                                     args.coordinator)))


if __name__ == "__main__":
    _main(sys.argv[1:])
