"""Learning-rate schedules: Houlsby et al.'s linear warm-up and linear decay."""

import numbers

import keras
from keras import ops

# The schedule names are defined without Keras, for the settings and `--help`.
from keras_adapters.defaults import SCHEDULES
from keras_adapters.errors import KerasAdaptersError


@keras.saving.register_keras_serializable(package="keras_adapters")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak_learning_rate`, then decays linearly to 0.

    Args:
        peak_learning_rate: float, the rate reached after warm-up.
        total_steps: int, the number of optimizer steps in training.
        warmup_steps: int, steps of linear warm-up (< `total_steps`).

    Raises:
        KerasAdaptersError: if `total_steps` is not positive or
            `warmup_steps` is outside `[0, total_steps)`.

    Example:

    >>> from keras_adapters.training.schedules import WarmupLinearDecay
    >>> schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(step)), 6) for step in (0, 5, 10, 55, 100)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps):
        if total_steps <= 0:
            raise KerasAdaptersError(f"`total_steps` must be positive; got {total_steps}.")
        if not 0 <= warmup_steps < total_steps:
            raise KerasAdaptersError(
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


def learning_rate_schedule(learning_rate, schedule="auto", total_steps=None, warmup_fraction=0.1):
    """The learning rate of a fine-tuning run, by schedule name.

    Args:
        learning_rate: float, the peak (or constant) learning rate.
        schedule: `"linear"` (warm-up over `warmup_fraction` of the steps,
            then linear decay to 0: `WarmupLinearDecay`), `"constant"`, or
            `"auto"`: linear when `total_steps` is given, else constant.
        total_steps: int, optimizer steps of the whole training (epochs x
            batches per epoch); needed by `"linear"`.
        warmup_fraction: share of `total_steps` spent warming up, in [0, 1);
            the warm-up takes `int(warmup_fraction * total_steps)` steps.

    Returns:
        A `WarmupLinearDecay`, or `learning_rate` itself for a constant rate.

    Raises:
        KerasAdaptersError: for an unknown schedule, `"linear"` without
            `total_steps`, or values out of range.

    Example:

    >>> from keras_adapters.training.schedules import learning_rate_schedule
    >>> learning_rate_schedule(1e-3, total_steps=50).get_config()
    {'peak_learning_rate': 0.001, 'total_steps': 50, 'warmup_steps': 5}
    >>> learning_rate_schedule(1e-3)
    0.001
    """
    if schedule not in SCHEDULES + ("auto",):
        raise KerasAdaptersError(
            f"`schedule` must be one of {SCHEDULES + ('auto',)}; got {schedule!r}."
        )
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, numbers.Real)
        or not learning_rate > 0
    ):
        raise KerasAdaptersError(f"`learning_rate` must be a positive number; got {learning_rate!r}.")
    if total_steps is not None and (
        isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps <= 0
    ):
        raise KerasAdaptersError(f"`total_steps` must be a positive integer or None; got {total_steps!r}.")
    if not isinstance(warmup_fraction, numbers.Real) or not 0 <= warmup_fraction < 1:
        raise KerasAdaptersError(f"`warmup_fraction` must be in [0, 1); got {warmup_fraction!r}.")
    learning_rate = float(learning_rate)
    total_steps = None if total_steps is None else int(total_steps)
    if schedule == "auto":
        schedule = "constant" if total_steps is None else "linear"
    if schedule == "constant":
        return learning_rate
    if total_steps is None:
        raise KerasAdaptersError(
            "schedule='linear' needs `total_steps` (epochs x batches per epoch); pass it, "
            "or use schedule='constant'."
        )
    return WarmupLinearDecay(learning_rate, total_steps, int(warmup_fraction * total_steps))
