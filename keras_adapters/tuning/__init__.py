"""Tuning adapter settings (bottleneck size, ...) with keras-tuner.

Import from here, not from `keras_adapters`: the package root does not
import keras-tuner, so only code that tunes pays for loading it. The names
below are imported on first use (`keras_adapters.utils.lazy_exports`), so
importing `keras_adapters.tuning.config` alone loads neither keras-tuner nor
TensorFlow.
"""

from typing import TYPE_CHECKING

from keras_adapters.utils.lazy_exports import lazy_exports

if TYPE_CHECKING:  # Imported on first use.
    from keras_adapters.tuning.checkpoints import use_task_weight_checkpoints
    from keras_adapters.tuning.hypermodel import (
        DEFAULT_BOTTLENECK_SIZES,
        AdapterHyperModel,
        default_compile,
    )

__all__ = [
    "DEFAULT_BOTTLENECK_SIZES",
    "AdapterHyperModel",
    "default_compile",
    "use_task_weight_checkpoints",
]

__getattr__, __dir__ = lazy_exports(__name__)
