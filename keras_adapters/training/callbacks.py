"""Callbacks for adapter training runs."""

import math
import time

import keras


class BestAdapterCheckpoint(keras.callbacks.Callback):
    """Saves the adapter (and head) files whenever a metric improves.

    Each save replaces the checkpoint directory atomically, so an interrupted
    run always leaves the last good checkpoint complete on disk. The best
    epoch and value are recorded only once `save` has returned, so they
    always describe the checkpoint on disk: a save interrupted by Ctrl-C (or
    failing) leaves them at the previous checkpoint.

    Args:
        save: callable `save(epoch, logs)` writing the checkpoint.
        monitor: the `logs` key to watch, e.g. `"val_accuracy"`.
        mode: `"max"` or `"min"`.

    Attributes:
        best_epoch: 1-based epoch of the checkpoint saved last, the best so
            far (None before the first save completes).
        best_value: its value of `monitor`.

    Example:

    >>> import numpy as np
    >>> import keras
    >>> from keras_adapters.training import BestAdapterCheckpoint
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> saved = []
    >>> checkpoint = BestAdapterCheckpoint(lambda epoch, logs: saved.append(epoch))
    >>> x, y = np.ones((8, 3), "float32"), np.zeros(8, "int32")
    >>> _ = model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0, callbacks=[checkpoint])
    >>> saved[0], checkpoint.best_epoch == saved[-1]  # saved at epoch 1, then on improvement
    (1, True)
    """

    def __init__(self, save, monitor="val_accuracy", mode="max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min'; got {mode!r}.")
        self._save = save
        self.monitor = monitor
        self.mode = mode
        self.best_epoch = None
        self.best_value = None

    def _improved(self, value):
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"BestAdapterCheckpoint monitors {self.monitor!r}, but the epoch "
                f"logs only have {sorted(logs)}. Pass validation data to fit()."
            )
        value = float(logs[self.monitor])
        if not math.isnan(value) and self._improved(value):
            self._save(epoch + 1, logs)
            # Only now: until the save completes, the last checkpoint is the one on disk.
            self.best_value = value
            self.best_epoch = epoch + 1


class TrainingLog(keras.callbacks.Callback):
    """Records per-step training loss and per-epoch logs with timings.

    Attributes:
        steps: list of `(global_step, loss)`: each step's own batch loss,
            recovered from the running mean that Keras reports per epoch.
        epochs: list of dicts: the epoch's logs plus `epoch` and `seconds`.
        step_seconds: wall time of each training step.

    Example:

    >>> import numpy as np
    >>> import keras
    >>> from keras_adapters.training import TrainingLog
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> log = TrainingLog()
    >>> _ = model.fit(np.ones((8, 3)), np.zeros(8), batch_size=4, epochs=2, verbose=0, callbacks=[log])
    >>> len(log.steps), len(log.step_seconds), [e["epoch"] for e in log.epochs]
    (4, 4, [1, 2])
    """

    def __init__(self):
        super().__init__()
        self.steps = []
        self.epochs = []
        self.step_seconds = []
        self._global_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._previous_mean = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step_seconds.append(time.perf_counter() - self._step_start)
        self._global_step += 1
        if logs and "loss" in logs:
            # Keras logs the mean over the epoch's first `batch + 1` steps.
            mean = float(logs["loss"])
            self.steps.append((self._global_step, (batch + 1) * mean - batch * self._previous_mean))
            self._previous_mean = mean

    def on_epoch_end(self, epoch, logs=None):
        record = {key: float(value) for key, value in (logs or {}).items()}
        record["epoch"] = epoch + 1
        record["seconds"] = time.perf_counter() - self._epoch_start
        self.epochs.append(record)
