"""Parameter budget of a model: what trains, what is frozen."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ParameterCount:
    """Trainable and total parameter counts of a model.

    Attributes:
        trainable: number of trainable scalars.
        total: number of scalars in all weights.
    """

    trainable: int
    total: int

    @property
    def frozen(self):
        return self.total - self.trainable

    @property
    def trainable_share(self):
        """Trainable parameters as a fraction of the total (0..1)."""
        return self.trainable / self.total if self.total else 0.0

    def __str__(self):
        return (
            f"trainable {self.trainable:,} / total {self.total:,} "
            f"({100 * self.trainable_share:.2f}%)"
        )


def count_parameters(model):
    """Counts a model's trainable and total parameters.

    Args:
        model: a built Keras layer or model.

    Returns:
        A `ParameterCount`; `str()` of it reads
        "trainable 1,234 / total 56,789 (2.17%)".

    Example:

    >>> import keras
    >>> from keras_adapters.utils.parameters import count_parameters
    >>> layer = keras.layers.Dense(4)
    >>> layer.build((None, 3))
    >>> count_parameters(layer).total
    16
    """
    def size(weights):
        return int(sum(np.prod(w.shape) for w in weights))

    return ParameterCount(
        trainable=size(model.trainable_weights), total=size(model.weights)
    )
