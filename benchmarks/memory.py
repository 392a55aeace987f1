"""Memory per arm: one fresh process per arm, training a few steps.

Peak memory cannot be split between arms that share a process, so each arm
trains `settings.memory_steps` steps on the benchmark's batches in its own
process (`python -m benchmarks memory-arm ARM`), which reports its peak RSS
(`VmHWM`) and how much the RSS rose while training (gradients, optimizer
state, activations). The processes may run side by side: each peak is its
own process's.
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import keras

from benchmarks.arms import ARM_NAMES, build_arm, compile_arm, load_base_backbone
from benchmarks.compare import load_data
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
    compile_arm(model, arm, settings.memory_steps)
    batches = tokenized(data.train, preprocessor, settings.batch_size).take(settings.memory_steps).cache()
    for _ in batches:  # tokenize up front: only training is inside the window
        pass
    before = current_rss_mib()
    with RssSampler() as sampler:
        model.fit(batches, epochs=1, verbose=0)
    return {
        "peak_rss_mib": max(peak_rss_mib(), sampler.peak_mib),
        "training_rss_increase_mib": max(0.0, sampler.peak_mib - before),
    }


def _measure_in_subprocess(arm, settings):
    command = [sys.executable, "-m", "benchmarks", "memory-arm", arm] + (["--quick"] if settings.quick else [])
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"Memory measurement of {arm!r} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_memory(settings, log=print):
    """Measures every arm, each in a fresh process; returns the results dict."""
    started = time.time()
    log(f"== memory: one fresh process per arm, {settings.memory_steps} training steps each")
    with ThreadPoolExecutor(max_workers=min(len(ARM_NAMES), os.cpu_count() or 1)) as pool:
        arms = dict(zip(ARM_NAMES, pool.map(lambda arm: _measure_in_subprocess(arm, settings), ARM_NAMES)))
    for arm, record in arms.items():
        log(f"   {arm}: peak {record['peak_rss_mib']:.0f} MiB, training +{record['training_rss_increase_mib']:.0f} MiB")
    return {
        "kind": "keras-adapters/benchmark-memory",
        "quick": settings.quick,
        "machine": machine_description(),
        "setup": {
            "memory": (
                f"a fresh process per arm training {settings.memory_steps} steps (batch "
                f"{settings.batch_size}, sequence length {settings.sequence_length}): its peak RSS "
                "(VmHWM), and the RSS increase while training"
            ),
        },
        "arms": arms,
        "duration_seconds": time.time() - started,
    }
