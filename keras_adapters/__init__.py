"""keras-adapters: bottleneck adapters for Keras 3 and KerasHub.

Importing the package loads its public API and registers every Keras
serializable class it defines (layers, adapted backbones, task models,
learning-rate schedules), so `keras.saving.load_model` reads a `.keras` file
of a keras-adapters model right after `import keras_adapters`.

One exception: while the `keras-adapters` command is starting, the API (and
with it TensorFlow) is loaded on first use instead, so `keras-adapters
--help` or a mistyped option answers at once; each command imports what it
runs.
"""

import importlib
import os
import sys

__version__ = "0.1.0"

# Public name -> module that defines it.
_API = {
    "AdapterConfig": "keras_adapters.config",
    "AdapterLayer": "keras_adapters.layers",
    "Average": "keras_adapters.composition",
    "BatchSplit": "keras_adapters.composition",
    "Fuse": "keras_adapters.composition",
    "Parallel": "keras_adapters.composition",
    "Stack": "keras_adapters.composition",
    "KerasAdaptersError": "keras_adapters.errors",
    "PooledTextClassifier": "keras_adapters.tasks",
    "TokenClassifier": "keras_adapters.tasks",
    "load_adapters": "keras_adapters.saving",
    "load_task": "keras_adapters.saving",
    "read_adapter_file": "keras_adapters.saving",
    "save_adapters": "keras_adapters.saving",
    "AdaptedBackbone": "keras_adapters.surgery",
    "add_adapters": "keras_adapters.surgery",
    "supported_backbones": "keras_adapters.surgery",
    "ParameterCount": "keras_adapters.utils.parameters",
    "count_parameters": "keras_adapters.utils.parameters",
}
# Modules whose import registers Keras serializable classes that no public
# name above pulls in.
_SERIALIZABLE_MODULES = ("keras_adapters.tasks", "keras_adapters.training.schedules")

__all__ = sorted(_API)


def __getattr__(name):
    """Loads a public name on first use (only needed in the command line)."""
    if name not in _API:
        raise AttributeError(f"module 'keras_adapters' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_API))


def _starting_command_line():
    """Whether this import is the start of the `keras-adapters` command.

    True for the console script (`sys.argv[0]` is the `keras-adapters`
    script) and for `python -m keras_adapters` (Python sets `sys.argv[0]`
    to "-m" while it locates the package).
    """
    argv = getattr(sys, "argv", None) or [""]
    script = os.path.basename(argv[0])
    if script == "keras-adapters" or script.startswith("keras-adapters."):
        return True
    original = getattr(sys, "orig_argv", [])
    return argv[0] == "-m" and any(
        flag == "-m" and module == "keras_adapters" or flag == "-mkeras_adapters"
        for flag, module in zip(original, original[1:] + [""])
    )


def _load_api():
    for name in _API:
        __getattr__(name)
    for module in _SERIALIZABLE_MODULES:
        importlib.import_module(module)


if not _starting_command_line():
    _load_api()
