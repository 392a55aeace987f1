"""Learning-rate schedule used by Houlsby et al.: linear warm-up, linear decay."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_adapters")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak_learning_rate`, then decays linearly to 0.

    Args:
        peak_learning_rate: float, the rate reached after warm-up.
        total_steps: int, the number of optimizer steps in training.
        warmup_steps: int, steps of linear warm-up (< `total_steps`).

    Example:

    >>> schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(step)), 6) for step in (0, 5, 10, 55, 100)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps):
        if total_steps <= 0:
            raise ValueError(f"`total_steps` must be positive; got {total_steps}.")
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"`warmup_steps` must be in [0, total_steps={total_steps}); got "
                f"{warmup_steps}."
            )
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = ops.cast(self.peak_learning_rate, "float32")
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        total = ops.cast(self.total_steps, "float32")
        rising = peak * step / warmup
        falling = peak * ops.maximum(total - step, 0.0) / ops.maximum(
            total - ops.cast(self.warmup_steps, "float32"), 1.0
        )
        return ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }
