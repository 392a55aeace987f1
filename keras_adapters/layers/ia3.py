"""(IA)^3 (Liu et al. 2022): a learned rescaling vector on a projection."""

import keras

from keras_adapters.errors import KerasAdaptersError

#: Where the vector applies: on the projection's output (keys, values), or on
#: its input (the feed-forward intermediate activation is the input of the
#: feed-forward output projection: `W2 (l * h) = (l[:, None] * W2) h`).
SIDES = ("output", "input")


@keras.saving.register_keras_serializable(package="keras_adapters")
class IA3Adapter(keras.layers.Layer):
    """Elementwise rescaling `l * v` of a projection's output or input.

    `l` starts at ones: the adapted model equals the base model exactly at
    initialisation. The rescaling is linear in the projection, so
    `merge_into` folds it into the kernel (and bias).

    Args:
        vector_shape: tuple, the shape of `l` (the trailing axes it scales:
            (heads, head_dim) for a KerasHub key/value projection).
        side: `"output"` or `"input"` (see `SIDES`).
        **kwargs: base layer arguments.

    Raises:
        KerasAdaptersError: for an unknown side.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.layers.ia3 import IA3Adapter
    >>> ia3 = IA3Adapter(vector_shape=(4,))
    >>> y = np.ones((1, 2, 4), "float32")
    >>> bool(np.array_equal(ia3.adapt_output(y, y, None), y))
    True
    """

    def __init__(self, vector_shape, side="output", **kwargs):
        super().__init__(**kwargs)
        if side not in SIDES:
            raise KerasAdaptersError(f"(IA)^3 `side` must be one of {', '.join(SIDES)}; got {side!r}.")
        self.vector_shape = tuple(int(d) for d in vector_shape)
        self.side = side
        self.supports_masking = True

    def build(self, inputs_shape=None):
        self.scale = self.add_weight(name="scale", shape=self.vector_shape, initializer="ones")
        self.built = True

    def call(self, inputs):
        return inputs * keras.ops.cast(self.scale, inputs.dtype)

    # -- the ProjectionSlot protocol ----------------------------------------

    def transform_input(self, inputs):
        return self(inputs) if self.side == "input" else inputs

    def adapt_output(self, inputs, outputs, sublayer_input, training=None):
        return self(outputs) if self.side == "output" else outputs

    def merge_into(self, kernel, bias):
        """The projection's `(kernel, bias)` with the rescaling folded in (numpy)."""
        scale = keras.ops.convert_to_numpy(self.scale).astype(kernel.dtype)
        if self.side == "input":
            # Scales the kernel's leading (input) axes.
            return kernel * scale.reshape(scale.shape + (1,) * (kernel.ndim - scale.ndim)), bias
        if bias is not None and bias.shape != scale.shape:
            raise KerasAdaptersError(
                f"Cannot merge (IA)^3 {self.name!r}: the projection's bias has shape "
                f"{bias.shape}, the rescaling vector {scale.shape}."
            )
        return kernel * scale, None if bias is None else bias * scale

    def get_config(self):
        return {**super().get_config(), "vector_shape": list(self.vector_shape), "side": self.side}
