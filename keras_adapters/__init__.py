"""keras-adapters: bottleneck adapters for Keras 3 and KerasHub.

Importing the package loads its public API and registers every Keras
serializable class it defines (layers, adapted backbones, task models,
learning-rate schedules), so `keras.saving.load_model` reads a `.keras` file
of a keras-adapters model right after `import keras_adapters`.

With the environment variable `KERAS_ADAPTERS_LAZY_IMPORT=1` (read when the
package is first imported) the import loads nothing heavy: each public name,
and each submodule, is imported the first time it is used, and
`keras_adapters.import_all()` loads and registers everything. The
`keras-adapters` command (`keras_adapters_launcher`) imports the package
that way, so `--help` and option errors answer without TensorFlow.
"""

import os
import sys
from typing import TYPE_CHECKING

from keras_adapters.utils.lazy_exports import lazy_exports

if TYPE_CHECKING:  # Imported on first use in lazy mode, by import_all() otherwise.
    from keras_adapters.composition import Average, BatchSplit, Fuse, Parallel, Stack
    from keras_adapters.config import AdapterConfig
    from keras_adapters.errors import KerasAdaptersError
    from keras_adapters.layers import AdapterLayer
    from keras_adapters.saving import load_adapters, load_task, read_adapter_file, save_adapters
    from keras_adapters.surgery import AdaptedBackbone, add_adapters, supported_backbones
    from keras_adapters.tasks import PooledTextClassifier, TokenClassifier
    from keras_adapters.utils.parameters import ParameterCount, count_parameters

__version__ = "0.1.0"

__all__ = [
    "AdaptedBackbone",
    "AdapterConfig",
    "AdapterLayer",
    "Average",
    "BatchSplit",
    "Fuse",
    "KerasAdaptersError",
    "Parallel",
    "ParameterCount",
    "PooledTextClassifier",
    "Stack",
    "TokenClassifier",
    "add_adapters",
    "count_parameters",
    "import_all",
    "load_adapters",
    "load_task",
    "read_adapter_file",
    "save_adapters",
    "supported_backbones",
]

# The switch: "1" makes the import lazy; anything else (or unset) keeps it eager.
LAZY_IMPORT_VARIABLE = "KERAS_ADAPTERS_LAZY_IMPORT"

__getattr__, __dir__ = lazy_exports(__name__)


def import_all():
    """Imports the public API and registers every Keras serializable class.

    What `import keras_adapters` does by default; call it after a lazy
    import (`KERAS_ADAPTERS_LAZY_IMPORT=1`) before `keras.saving.load_model`.
    Calling it again does nothing.

    Returns:
        None.

    Example:

    >>> import keras_adapters
    >>> keras_adapters.import_all()
    >>> "AdapterLayer" in vars(keras_adapters)
    True
    """
    package = sys.modules[__name__]
    for name in __all__:
        getattr(package, name)  # the first look-up of a name imports it
    # Registers the learning-rate schedules, which no public name imports.
    import keras_adapters.training.schedules  # noqa: F401


if os.environ.get(LAZY_IMPORT_VARIABLE) != "1":
    import_all()
