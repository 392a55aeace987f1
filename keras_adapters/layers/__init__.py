from keras_adapters.layers.adapter_fusion import AdapterFusion
from keras_adapters.layers.adapter_layer import AdapterLayer
from keras_adapters.layers.adapter_slot import AdapterSlot
from keras_adapters.layers.ia3 import IA3Adapter
from keras_adapters.layers.lora import LoraAdapter
from keras_adapters.layers.parallel_adapter import ParallelAdapter
from keras_adapters.layers.projection_slot import ProjectionSlot
