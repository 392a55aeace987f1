"""Measuring helpers: interleaved timing, sizes on disk, the machine description."""

import os
import platform
import statistics
import subprocess
import time


def interleaved_medians(functions, rounds, calls_per_round, warmup=1):
    """Median seconds per call of each function, measured in interleaved rounds.

    Every function is called `warmup` times first (tracing, XLA compilation),
    then `rounds` times in turn `calls_per_round` calls each, so that drift of
    the machine's speed (other load, thermal, frequency) touches every
    function alike instead of whichever ran last.

    Args:
        functions: dict name -> zero-argument callable.
        rounds, calls_per_round: how many timed calls, and how grouped.
        warmup: untimed calls per function before timing.

    Returns:
        dict name -> {"median_s", "min_s", "samples"}.
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            for _ in range(calls_per_round):
                started = time.perf_counter()
                function()
                samples[name].append(time.perf_counter() - started)
    return {
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "samples": len(values),
        }
        for name, values in samples.items()
    }


def peak_rss_mib():
    """This process's peak resident set size so far, in MiB (Linux).

    Read from `VmHWM`: `getrusage(...).ru_maxrss` survives `exec`, so in a
    process started from a big parent it reports the parent's size.
    """
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise OSError("/proc/self/status has no VmHWM line")


def current_rss_mib():
    """This process's resident set size now, in MiB (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """Samples the RSS in a background thread; `peak_mib` is the highest seen.

    Use as a context manager around the code to measure.
    """

    def __init__(self, interval_seconds=0.01):
        self.interval_seconds = interval_seconds
        self.peak_mib = 0.0
        self._stop = None
        self._thread = None

    def __enter__(self):
        import threading

        self._stop = threading.Event()
        self.peak_mib = current_rss_mib()

        def sample():
            while not self._stop.wait(self.interval_seconds):
                self.peak_mib = max(self.peak_mib, current_rss_mib())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, current_rss_mib())


def machine_description():
    """What ran the benchmark: CPU, cores, memory, OS and package versions."""
    import keras
    import keras_hub
    import numpy
    import tensorflow as tf

    import keras_adapters

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    memory_gib = round(int(line.split()[1]) / 1024**2, 1)
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "gpu": [d.name for d in tf.config.list_physical_devices("GPU")],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_hub": keras_hub.__version__,
            "keras_adapters": keras_adapters.__version__,
            "numpy": numpy.__version__,
        },
        "git_commit": commit,
    }
