"""keras-adapters: bottleneck adapters for Keras 3 and KerasHub."""

from keras_adapters.config import AdapterConfig
from keras_adapters.layers import AdapterLayer, AdapterSlot
from keras_adapters.saving import load_adapters, load_task, read_adapter_file, save_adapters
from keras_adapters.surgery import (
    AdaptedBackbone,
    add_adapters,
    supported_backbones,
)
from keras_adapters.utils.parameters import ParameterCount, count_parameters

__version__ = "0.1.0"
