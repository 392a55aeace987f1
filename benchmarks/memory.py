"""Memory per arm: one fresh process per arm, training a few steps.

Peak memory cannot be split between arms that share a process, so each arm
trains `settings.memory_steps` steps on the benchmark's batches in its own
process (`python -m benchmarks memory-arm ARM`), which reports its peak RSS
(`VmHWM`) and how much the RSS rose while training (gradients, optimizer
state, activations; for the cached arm also its cache of those steps'
prefix states). The processes may run side by side: each peak is its own
process's. The quick run measures every arm in one process (its numbers
only show that the code runs), which saves a TensorFlow start per arm.
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import keras

from benchmarks.arms import ARM_NAMES, build_arm, compile_arm, load_base_backbone, training_model
from benchmarks.inputs import load_data
from benchmarks.measure import RssSampler, current_rss_mib, machine_description, peak_rss_mib
from keras_adapters.training import tokenized

RESULT_FILE = "memory.json"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure_arm(arm, settings):
    """Memory of training `arm` a few steps in this (fresh) process.

    Returns:
        dict with `peak_rss_mib` (the process's peak) and
        `training_rss_increase_mib` (highest RSS while training minus the RSS
        just before).
    """
    keras.utils.set_random_seed(settings.seed)
    data, preprocessor, _ = load_data(settings)
    model, _ = build_arm(arm, load_base_backbone(settings), len(data.label_names))
    compile_arm(model, arm, settings.memory_steps, run_eagerly=settings.run_eagerly)
    fit_model = training_model(arm, model, settings.seed)
    batches = tokenized(data.train, preprocessor, settings.batch_size).take(settings.memory_steps).cache()
    for _ in batches:  # tokenize up front: only training is inside the window
        pass
    before = current_rss_mib()
    with RssSampler() as sampler:
        # The cached arm fills its cache (prefix states of these batches) here.
        fit_model.fit(batches, epochs=1, verbose=0)
    return {
        "peak_rss_mib": max(peak_rss_mib(), sampler.peak_mib),
        "training_rss_increase_mib": max(0.0, sampler.peak_mib - before),
    }


def _measure_in_subprocess(arms, settings):
    """Runs `memory-arm ARMS...` in a fresh process; returns arm -> its record."""
    command = [sys.executable, "-m", "benchmarks", "memory-arm", *arms] + (["--quick"] if settings.quick else [])
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"Memory measurement of {', '.join(arms)} failed:\n{result.stderr[-3000:]}")
    records = [json.loads(line) for line in result.stdout.strip().splitlines()[-len(arms):]]
    return {record.pop("arm"): record for record in records}


def run_memory(settings, log=print, arms=None):
    """Measures every arm (or `arms`), each in a fresh process (quick: one for all); returns the results dict."""
    started = time.time()
    measured = tuple(arm for arm in ARM_NAMES if arms is None or arm in arms)
    groups = [measured] if settings.quick else [(arm,) for arm in measured]
    log(f"== memory: {len(groups)} fresh process(es), {settings.memory_steps} training steps per arm")
    records = {}
    with ThreadPoolExecutor(max_workers=min(len(groups), os.cpu_count() or 1)) as pool:
        for group_records in pool.map(lambda group: _measure_in_subprocess(group, settings), groups):
            records.update(group_records)
    records = {arm: records[arm] for arm in measured}
    for arm, record in records.items():
        log(f"   {arm}: peak {record['peak_rss_mib']:.0f} MiB, training +{record['training_rss_increase_mib']:.0f} MiB")
    return {
        "kind": "keras-adapters/benchmark-memory",
        "quick": settings.quick,
        "machine": machine_description(),
        "setup": {
            "memory": (
                f"{'one process for every arm (quick run)' if settings.quick else 'a fresh process per arm'}"
                f" training {settings.memory_steps} steps (batch "
                f"{settings.batch_size}, sequence length {settings.sequence_length}): its peak RSS "
                "(VmHWM), and the RSS increase while training"
            ),
        },
        "arms": records,
        "duration_seconds": time.time() - started,
    }
