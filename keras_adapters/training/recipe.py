"""The fine-tuning recipe: AdamW, warm-up schedule, cross-entropy, accuracy.

One place for what `keras-adapters train`, `keras-adapters tune`, the
benchmarks and the tasks' `compile()` defaults use: AdamW with decoupled
weight decay on every weight but biases and layer-norm scales and offsets
(`gamma`, `beta`), a warm-up + linear-decay learning rate, sparse
cross-entropy on logits and an accuracy metric named `"accuracy"` (so the
validation objective is `"val_accuracy"`). The defaults are those of
`keras-adapters train`.
"""

import numbers

import keras

# The recipe's numbers are defined without Keras, for the settings and `--help`.
from keras_adapters.defaults import LEARNING_RATE, WARMUP_FRACTION, WEIGHT_DECAY
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training.schedules import learning_rate_schedule

#: Variable names (regular expressions, as AdamW matches them) that get no
#: weight decay: biases and layer-norm parameters.
NO_WEIGHT_DECAY = ("bias", "gamma", "beta")


def adamw(
    learning_rate=LEARNING_RATE,
    weight_decay=WEIGHT_DECAY,
    *,
    schedule="auto",
    total_steps=None,
    warmup_fraction=WARMUP_FRACTION,
):
    """AdamW without weight decay on biases and norms, on the recipe's schedule.

    Args:
        learning_rate: float, the peak learning rate; or a ready
            `keras.optimizers.schedules.LearningRateSchedule`, used as is
            (then `schedule` must be `"auto"` or `"constant"`).
        weight_decay: float >= 0, AdamW's decoupled weight decay.
        schedule: `"linear"`, `"constant"` or `"auto"` (linear when
            `total_steps` is given); see
            `keras_adapters.training.schedules.learning_rate_schedule`.
        total_steps: int, optimizer steps of the whole training.
        warmup_fraction: share of `total_steps` spent warming up.

    Returns:
        A `keras.optimizers.AdamW`.

    Raises:
        KerasAdaptersError: for invalid values.

    Example:

    >>> from keras_adapters.training.recipe import adamw
    >>> optimizer = adamw(2e-3, total_steps=40)
    >>> float(optimizer.weight_decay), optimizer.get_config()["learning_rate"]["config"]
    (0.01, {'peak_learning_rate': 0.002, 'total_steps': 40, 'warmup_steps': 4})
    """
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        if schedule not in ("auto", "constant") or total_steps is not None:
            raise KerasAdaptersError(
                "`learning_rate` is already a schedule; pass a float peak rate to build "
                "the warm-up schedule from `schedule` and `total_steps`."
            )
    else:
        learning_rate = learning_rate_schedule(
            learning_rate, schedule=schedule, total_steps=total_steps, warmup_fraction=warmup_fraction
        )
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real) or weight_decay < 0:
        raise KerasAdaptersError(f"`weight_decay` must be a number >= 0; got {weight_decay!r}.")
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer


def classification_loss():
    """The recipe's loss: sparse categorical cross-entropy on logits.

    Returns:
        A `keras.losses.SparseCategoricalCrossentropy` taking integer labels
        and logits.

    Example:

    >>> from keras_adapters.training.recipe import classification_loss
    >>> classification_loss().from_logits
    True
    """
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def accuracy_metrics():
    """The recipe's metrics: sparse categorical accuracy named `"accuracy"`.

    Returns:
        A list of one `keras.metrics.SparseCategoricalAccuracy`; its name
        makes the validation objective `"val_accuracy"`.

    Example:

    >>> from keras_adapters.training.recipe import accuracy_metrics
    >>> [metric.name for metric in accuracy_metrics()]
    ['accuracy']
    """
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def compile_arguments(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY, **schedule):
    """`model.compile` arguments of the recipe, for any classifier model.

    Args:
        learning_rate, weight_decay: as for `adamw`.
        **schedule: `schedule`, `total_steps`, `warmup_fraction` of `adamw`.

    Returns:
        A dict with `optimizer`, `loss` and `metrics`.

    Example:

    >>> import keras
    >>> from keras_adapters.training.recipe import compile_arguments
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile(**compile_arguments(total_steps=100), jit_compile=False)
    >>> type(model.optimizer).__name__, model.optimizer.get_config()["learning_rate"]["config"]
    ('AdamW', {'peak_learning_rate': 0.001, 'total_steps': 100, 'warmup_steps': 10})
    """
    return {
        "optimizer": adamw(learning_rate, weight_decay, **schedule),
        "loss": classification_loss(),
        "metrics": accuracy_metrics(),
    }
