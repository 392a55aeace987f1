"""The parallel adapter of He et al. 2022: a bottleneck beside a sublayer."""

import keras
from keras import ops

from keras_adapters.layers.adapter_layer import AdapterLayer


@keras.saving.register_keras_serializable(package="keras_adapters")
class ParallelAdapter(AdapterLayer):
    """Bottleneck branch `scaling * up(dropout(act(down(x))))`, no skip connection.

    Same weights, settings and initialisations as `AdapterLayer`; it reads
    the *input* of the sublayer it sits beside, and `ProjectionSlot` adds
    its output to the sublayer's output (He et al. 2022; their scaled
    parallel adapter uses `scaling=4`). With `initialization="zero_up"` the
    branch is exactly zero at the start.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.layers.parallel_adapter import ParallelAdapter
    >>> adapter = ParallelAdapter(4, initialization="zero_up", scaling=4.0)
    >>> x = np.ones((1, 3, 16), "float32")
    >>> float(np.abs(adapter(x)).max())
    0.0
    """

    #: `ProjectionSlot` hands it the sublayer's input (see `SublayerInput`).
    reads_sublayer_input = True

    def call(self, inputs, training=None):
        h = self._activation_fn(self.down_projection(inputs))
        h = self.up_projection(self.bottleneck_dropout(h, training=training))
        if self.scaling != 1.0:
            h = h * ops.cast(self.scaling, h.dtype)
        return h

    # -- the ProjectionSlot protocol ----------------------------------------

    def transform_input(self, inputs):
        return inputs

    def adapt_output(self, inputs, outputs, sublayer_input, training=None):
        return outputs + self(sublayer_input, training=training)
