"""AdapterFusion (Pfeiffer et al. 2021): attention over adapter outputs."""

import keras
from keras import ops

from keras_adapters.errors import KerasAdaptersError


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterFusion(keras.layers.Layer):
    """Combines several adapters' outputs with a learned, per-token attention.

    The query comes from the branch output the adapters read (`inputs`),
    keys and values from each adapter's output; the result is the
    attention-weighted sum of the projected values. The value projection
    starts as the identity, so before training the fusion is a weighted
    average of the adapter outputs. The Keras mask of `inputs` passes
    through to the output.

    Args:
        temperature: float, softmax temperature over the adapters.
        **kwargs: base layer arguments.

    Raises:
        KerasAdaptersError: for a temperature that is not positive.

    Call arguments:
        inputs: `(batch, length, hidden)`, the adapters' common input.
        adapter_outputs: list of tensors of the same shape, one per adapter.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.layers import AdapterFusion
    >>> fusion = AdapterFusion()
    >>> x = np.ones((1, 3, 4), "float32")
    >>> fusion(x, [x, 2 * x]).shape
    TensorShape([1, 3, 4])
    """

    def __init__(self, temperature=1.0, **kwargs):
        super().__init__(**kwargs)
        if not temperature > 0:
            raise KerasAdaptersError(f"`temperature` must be positive; got {temperature!r}.")
        self.temperature = temperature
        # Per token, as the adapters: the mask of `inputs` holds for the output.
        self.supports_masking = True

    def build(self, inputs_shape, adapter_outputs_shape=None):
        hidden_dim = inputs_shape[-1]
        small = keras.initializers.TruncatedNormal(stddev=0.02)
        self.query = keras.layers.Dense(hidden_dim, kernel_initializer=small, dtype=self.dtype_policy, name="query")
        self.key = keras.layers.Dense(hidden_dim, kernel_initializer=small, dtype=self.dtype_policy, name="key")
        self.value = keras.layers.Dense(
            hidden_dim, kernel_initializer="identity", use_bias=False, dtype=self.dtype_policy, name="value"
        )
        for layer in (self.query, self.key, self.value):
            layer.build(inputs_shape)
        self.built = True

    def call(self, inputs, adapter_outputs):
        stacked = ops.stack(adapter_outputs, axis=-2)  # (batch, length, n, hidden)
        query = self.query(inputs)
        keys = self.key(stacked)
        scores = ops.einsum("btd,btnd->btn", query, keys) / ops.cast(self.temperature, query.dtype)
        weights = ops.softmax(scores, axis=-1)
        return ops.einsum("btn,btnd->btd", weights, self.value(stacked))

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}
