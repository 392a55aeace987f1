"""The bottleneck adapter of Houlsby et al. 2019."""

import math
import numbers

import keras
from keras import ops

from keras_adapters.config import ACTIVATIONS, INITIALIZATIONS
from keras_adapters.errors import KerasAdaptersError


def _activation(name):
    if name == "gelu_approximate":
        return lambda x: keras.activations.gelu(x, approximate=True)
    return keras.activations.get(name)


def _initializers(initialization, init_scale):
    """(down kernel, up kernel) initializers for an initialization scheme."""
    if initialization == "houlsby":
        return (
            keras.initializers.TruncatedNormal(stddev=init_scale),
            keras.initializers.TruncatedNormal(stddev=init_scale),
        )
    # "zero_up": the up-projection starts at exactly zero, so the adapter is
    # the identity and gradients still reach it through a full-scale
    # down-projection (as in LoRA's B = 0 start).
    return keras.initializers.GlorotUniform(), keras.initializers.Zeros()


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterLayer(keras.layers.Layer):
    """Bottleneck adapter: `x + scaling * up(dropout(act(down(x))))`.

    A down-projection to `bottleneck_size` features, a non-linearity, an
    up-projection back to the input width and a skip connection around the
    whole. With a near-zero (or zero) up-projection the layer starts as
    (almost exactly) the identity, so inserting it into a pretrained network
    leaves the network's function unchanged at the start of training.

    The layer follows the dtype policy it is given (`mixed_float16`,
    `mixed_bfloat16`: weights in float32, computation in the compute dtype)
    and passes Keras masks through unchanged.

    Args:
        bottleneck_size: int. Width of the bottleneck.
        activation: str. One of `relu`, `gelu`, `gelu_approximate`, `silu`,
            `swish`, `tanh`, `linear`.
        initialization: str. `"houlsby"` (both projections truncated normal
            with std `init_scale`, zero biases) or `"zero_up"` (exact
            identity at the start).
        init_scale: float. Standard deviation for `"houlsby"`.
        dropout: float. Dropout rate on the bottleneck activations.
        scaling: float. Multiplier on the adapter branch.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Raises:
        KerasAdaptersError: for a non-positive bottleneck, an unknown
            activation or initialization, a dropout outside [0, 1), or a
            non-finite `scaling`/`init_scale`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_adapters import AdapterLayer
    >>> layer = AdapterLayer(bottleneck_size=8, initialization="zero_up")
    >>> x = np.random.rand(2, 5, 32).astype("float32")
    >>> y = keras.ops.convert_to_numpy(layer(x))  # NumPy on every backend
    >>> y.shape
    (2, 5, 32)
    >>> bool(np.allclose(y, x))  # identity at initialisation
    True
    >>> layer.count_params()  # 32*8 + 8 + 8*32 + 32
    552
    """

    def __init__(
        self,
        bottleneck_size,
        activation="gelu",
        initialization="houlsby",
        init_scale=1e-3,
        dropout=0.0,
        scaling=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(bottleneck_size, bool) or not isinstance(bottleneck_size, int) or bottleneck_size <= 0:
            raise KerasAdaptersError(
                f"`bottleneck_size` must be a positive int; got {bottleneck_size!r}."
            )
        if activation not in ACTIVATIONS:
            raise KerasAdaptersError(
                f"`activation` must be one of {', '.join(ACTIVATIONS)}; got {activation!r}."
            )
        if initialization not in INITIALIZATIONS:
            raise KerasAdaptersError(
                f"`initialization` must be one of {', '.join(INITIALIZATIONS)}; "
                f"got {initialization!r}."
            )
        if not 0 <= dropout < 1:
            raise KerasAdaptersError(f"`dropout` must be in [0, 1); got {dropout!r}.")
        for field, value in (("scaling", scaling), ("init_scale", init_scale)):
            # NaN or inf here would only surface as NaN losses after training.
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise KerasAdaptersError(f"`{field}` must be a finite number; got {value!r}.")
        self.bottleneck_size = bottleneck_size
        self.activation = activation
        self.initialization = initialization
        self.init_scale = init_scale
        self.dropout = dropout
        self.scaling = scaling
        self.supports_masking = True
        self._activation_fn = _activation(activation)

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        if hidden_dim is None:
            raise KerasAdaptersError(
                "AdapterLayer needs a known last dimension; got input shape "
                f"{inputs_shape}."
            )
        down_init, up_init = _initializers(self.initialization, self.init_scale)
        self.down_projection = keras.layers.Dense(
            self.bottleneck_size,
            kernel_initializer=down_init,
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="down_projection",
        )
        self.down_projection.build(inputs_shape)
        self.up_projection = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=up_init,
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="up_projection",
        )
        self.up_projection.build(tuple(inputs_shape[:-1]) + (self.bottleneck_size,))
        self.bottleneck_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="bottleneck_dropout"
        )
        self.built = True

    def call(self, inputs, training=None):
        h = self.down_projection(inputs)
        h = self._activation_fn(h)
        h = self.bottleneck_dropout(h, training=training)
        h = self.up_projection(h)
        if self.scaling != 1.0:
            h = h * ops.cast(self.scaling, h.dtype)
        return inputs + h

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "bottleneck_size": self.bottleneck_size,
                "activation": self.activation,
                "initialization": self.initialization,
                "init_scale": self.init_scale,
                "dropout": self.dropout,
                "scaling": self.scaling,
            }
        )
        return config
