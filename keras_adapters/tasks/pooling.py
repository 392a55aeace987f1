"""Pooling a transformer's token sequence into one vector per example."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_adapters")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over the non-padding positions of a sequence.

    Sentence-embedding checkpoints such as all-MiniLM-L6 are trained for mean
    pooling, so their `[CLS]` vector and BERT pooler carry little; averaging
    the real tokens gives a classifier head a much better start.

    Call arguments:
        sequence: float tensor `(batch, length, hidden)`.
        padding_mask: bool or int tensor `(batch, length)`, true for tokens.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.tasks import MaskedMeanPooling
    >>> x = np.array([[[1.0], [3.0], [100.0]]], "float32")
    >>> MaskedMeanPooling()(x, np.array([[1, 1, 0]])).numpy().tolist()
    [[2.0]]
    """

    def call(self, sequence, padding_mask):
        mask = ops.expand_dims(ops.cast(padding_mask, sequence.dtype), -1)
        total = ops.sum(sequence * mask, axis=1)
        count = ops.maximum(ops.sum(mask, axis=1), ops.cast(1, sequence.dtype))
        return total / count

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])


@keras.saving.register_keras_serializable(package="keras_adapters")
class FirstTokenPooling(keras.layers.Layer):
    """The first position of a sequence (BERT's `[CLS]` token).

    Example:

    >>> import numpy as np
    >>> from keras_adapters.tasks import FirstTokenPooling
    >>> FirstTokenPooling()(np.arange(6.0).reshape(1, 3, 2)).numpy().tolist()
    [[0.0, 1.0]]
    """

    def call(self, sequence):
        return sequence[:, 0, :]

    def compute_output_shape(self, sequence_shape):
        return (sequence_shape[0], sequence_shape[-1])
