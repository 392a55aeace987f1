"""Tuning adapter settings (bottleneck size, ...) with keras-tuner.

Import from here, not from `keras_adapters`: the package root does not
import keras-tuner, so only code that tunes pays for loading it.
"""

from keras_adapters.tuning.checkpoints import use_task_weight_checkpoints
from keras_adapters.tuning.hypermodel import (
    DEFAULT_BOTTLENECK_SIZES,
    AdapterHyperModel,
    default_compile,
)
