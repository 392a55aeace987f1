"""LoRA (Hu et al. 2021): a low-rank update of one projection kernel."""

import string

import keras
import numpy as np
from keras import ops

from keras_adapters.errors import KerasAdaptersError


def _factor_equations(equation):
    """The two einsum equations of `x -> x A -> (x A) B` for an `EinsumDense` equation.

    The kernel's last axis is the one the factorisation splits off (as in
    Keras' `EinsumDense.enable_lora`): A has the kernel's other axes plus
    the rank axis, B is (rank, last axis).
    """
    inputs, output = equation.split("->")
    x_spec, kernel_spec = inputs.split(",")
    last = kernel_spec[-1]
    rank = next(c for c in string.ascii_letters if c not in equation)
    hidden = output.replace(last, rank)
    return f"{x_spec},{kernel_spec[:-1]}{rank}->{hidden}", f"{hidden},{rank}{last}->{output}"


@keras.saving.register_keras_serializable(package="keras_adapters")
class LoraAdapter(keras.layers.Layer):
    """The low-rank update `(alpha / rank) * x A B` of a projection's output.

    The factors follow Keras' `enable_lora` layout for the projection's
    kernel K: A has shape `K.shape[:-1] + (rank,)`, B `(rank, K.shape[-1])`,
    so for a KerasHub attention kernel (hidden, heads, head_dim) A is
    (hidden, heads, rank) and B (rank, head_dim). A starts He-uniform, B at
    zero: the update is exactly zero at initialisation. The layer returns
    the update only; `ProjectionSlot` adds it to the projection's output.

    Args:
        kernel_shape: tuple, the adapted projection's kernel shape.
        rank: int, the rank.
        alpha: float or None (alpha = rank): the update is scaled by
            `alpha / rank`.
        dropout: float in [0, 1), dropout on the input of A.
        equation: the `EinsumDense` equation of the projection, or None for
            a `Dense` (matrix product over the last axis).
        **kwargs: base layer arguments.

    Raises:
        KerasAdaptersError: for a rank that is not a positive int, or a
            dropout outside [0, 1).

    Example:

    >>> import numpy as np
    >>> from keras_adapters.layers.lora import LoraAdapter
    >>> lora = LoraAdapter(kernel_shape=(16, 2, 8), rank=4, equation="abc,cde->abde")
    >>> x = np.ones((1, 3, 16), "float32")
    >>> delta = lora(x)
    >>> delta.shape, float(np.abs(delta).max())  # B = 0: no change at first
    (TensorShape([1, 3, 2, 8]), 0.0)
    """

    def __init__(self, kernel_shape, rank, alpha=None, dropout=0.0, equation=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
            raise KerasAdaptersError(f"LoRA `rank` must be a positive int; got {rank!r}.")
        if not 0 <= dropout < 1:
            raise KerasAdaptersError(f"LoRA `dropout` must be in [0, 1); got {dropout!r}.")
        self.kernel_shape = tuple(int(d) for d in kernel_shape)
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.equation = equation
        self._equations = None if equation is None else _factor_equations(equation)
        self.input_dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="input_dropout")
        self.supports_masking = True

    @property
    def scale(self):
        """The update's multiplier, `alpha / rank`."""
        return (self.rank if self.alpha is None else self.alpha) / self.rank

    def build(self, inputs_shape):
        self.lora_a = self.add_weight(
            name="lora_a", shape=self.kernel_shape[:-1] + (self.rank,), initializer="he_uniform"
        )
        self.lora_b = self.add_weight(
            name="lora_b", shape=(self.rank, self.kernel_shape[-1]), initializer="zeros"
        )
        self.built = True

    def call(self, inputs, training=None):
        x = self.input_dropout(inputs, training=training)
        if self._equations is None:
            delta = ops.matmul(ops.matmul(x, self.lora_a), self.lora_b)
        else:
            first, second = self._equations
            delta = ops.einsum(second, ops.einsum(first, x, self.lora_a), self.lora_b)
        return delta * ops.cast(self.scale, delta.dtype)

    # -- the ProjectionSlot protocol ----------------------------------------

    def transform_input(self, inputs):
        return inputs

    def adapt_output(self, inputs, outputs, sublayer_input, training=None):
        return outputs + self(inputs, training=training)

    def merge_into(self, kernel, bias):
        """The projection's `(kernel, bias)` with the update folded in (numpy)."""
        a = keras.ops.convert_to_numpy(self.lora_a).astype("float64")
        b = keras.ops.convert_to_numpy(self.lora_b).astype("float64")
        merged = kernel.astype("float64") + self.scale * np.matmul(a, b)
        return merged.astype(kernel.dtype), bias

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_shape": list(self.kernel_shape),
            "rank": self.rank,
            "alpha": self.alpha,
            "dropout": self.dropout,
            "equation": self.equation,
        }
