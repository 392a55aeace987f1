"""Equal-time training: each arm gets the training time full fine-tuning used.

The budget of an arm is computed from the step times measured in the
comparison's interleaved timing rounds (`measure.interleaved_medians`), not
from the wall clock of separate runs: on a shared machine two runs minutes
apart see different loads, while interleaved rounds see the same load. Full
fine-tuning trains `E` epochs of `S` steps at a median `t_full` seconds per
step, so the budget is `E * S * t_full` seconds, and an arm at `t_arm` per
step gets `floor(E * S * t_full / t_arm)` steps. An arm that first computes
something once (the frozen-prefix cache: one prefix pass over the training
data, `S * t_prefix`) pays that out of the same budget.

One run per arm and seed gives both accuracies: the learning rate follows
the recipe's warm-up + linear decay over the `E` equal epochs (so the model
after them is exactly the equal-epochs run), then restarts (Loshchilov &
Hutter's warm restarts: the same warm-up + linear decay over the remaining
budget) for the rest of the time. A single decay stretched over the whole
budget might end higher; the restart is what lets one run serve both
points, and it can only understate the equal-time accuracy of the faster arms.
"""

import math

import keras
from keras import ops

from keras_adapters.training.recipe import WARMUP_FRACTION
from keras_adapters.training.schedules import WarmupLinearDecay


def equal_time_steps(equal_epoch_steps, full_step_seconds, arm_step_seconds, once_seconds=0.0):
    """Training steps an arm can take in full fine-tuning's training time.

    Args:
        equal_epoch_steps: steps of the equal-epochs recipe (epochs x batches).
        full_step_seconds: full fine-tuning's median training step.
        arm_step_seconds: the arm's median training step.
        once_seconds: time the arm spends once, before or while training,
            on top of its steps (the prefix pass that fills the cache).

    Returns:
        An int >= 0: `floor((equal_epoch_steps * full_step_seconds -
        once_seconds) / arm_step_seconds)`. Below `equal_epoch_steps` when
        the arm is slower than full fine-tuning.

    Example:

    >>> from benchmarks.equal_time import equal_time_steps
    >>> equal_time_steps(100, 0.4, 0.2), equal_time_steps(100, 0.4, 0.1, once_seconds=5.0)
    (200, 350)
    """
    budget = equal_epoch_steps * full_step_seconds - once_seconds
    # A tiny tolerance: 100 * 0.4 / 0.2 must give 200, not 199.
    return max(0, math.floor(budget / arm_step_seconds + 1e-9))


class RestartedWarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The recipe's warm-up + linear decay, then once more over the extra steps.

    Args:
        peak_learning_rate: float, the peak of both cycles.
        first_steps: steps of the first cycle (the equal-epochs recipe).
        extra_steps: steps of the second cycle (0: none).
        warmup_fraction: share of each cycle spent warming up.

    Example:

    >>> from benchmarks.equal_time import RestartedWarmupLinearDecay
    >>> schedule = RestartedWarmupLinearDecay(1e-3, first_steps=10, extra_steps=20)
    >>> [round(float(schedule(step)), 6) for step in (0, 1, 5, 10, 12, 20, 30)]
    [0.0, 0.001, 0.000556, 0.0, 0.001, 0.000556, 0.0]
    """

    def __init__(self, peak_learning_rate, first_steps, extra_steps, warmup_fraction=WARMUP_FRACTION):
        self.first = WarmupLinearDecay(peak_learning_rate, first_steps, int(warmup_fraction * first_steps))
        self.second = None
        if extra_steps > 0:
            self.second = WarmupLinearDecay(
                peak_learning_rate, extra_steps, int(warmup_fraction * extra_steps)
            )
        self.first_steps = first_steps
        self.config = dict(
            peak_learning_rate=peak_learning_rate, first_steps=first_steps,
            extra_steps=extra_steps, warmup_fraction=warmup_fraction,
        )

    def __call__(self, step):
        first = self.first(step)
        if self.second is None:
            return first
        step = ops.cast(step, "float32")
        return ops.where(step < self.first_steps, first, self.second(step - self.first_steps))

    def get_config(self):
        return dict(self.config)
