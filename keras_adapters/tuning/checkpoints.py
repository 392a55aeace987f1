"""Trial checkpoints in the adapter-file format: the trained part, not the backbone.

A tuning trial trains a few percent of its model: the adapters, the layer
norms its adapter config trains, and the task head. The frozen backbone is
the same pretrained one in every trial, so a trial's checkpoint holds only
the rest, written by `keras_adapters.save_adapters` (a directory with
`adapter_config.json` and `adapter_weights.safetensors`, tensors keyed by
structure) and read back strictly by `keras_adapters.load_adapters`: the
format of saved adapters and of run directories.

Why through the model's own `save_weights`/`load_weights`: keras-tuner
1.4.8 checkpoints every trial through them, not through `Tuner.save_model`
(which its Keras tuners never call). Its best-epoch callback calls
`model.save_weights(path)`; `Tuner.load_model` (behind `get_best_models`)
and Hyperband's continued trials build a fresh model and call
`model.load_weights(path)`. So these two methods of each built model are the
one hook that every stock tuner goes through, and `AdapterHyperModel` works
with `keras_tuner.RandomSearch`, `BayesianOptimization` and `Hyperband` as
they are.
"""

import os
import weakref

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.saving import load_adapters, read_adapter_file, save_adapters

#: keras-tuner names its checkpoints `<name>.weights.h5` (as Keras requires
#: for weight files); the adapter directory drops the suffix.
KERAS_WEIGHTS_SUFFIX = ".weights.h5"


def checkpoint_directory(filepath):
    """The adapter directory a `save_weights(filepath)` call writes.

    Args:
        filepath: the path given to `save_weights`/`load_weights`.

    Returns:
        `filepath` without a `.weights.h5` suffix, as a str.

    Example:

    >>> from keras_adapters.tuning.checkpoints import checkpoint_directory
    >>> checkpoint_directory("search/trial_0/checkpoint.weights.h5")
    'search/trial_0/checkpoint'
    """
    filepath = os.fspath(filepath)
    if filepath.endswith(KERAS_WEIGHTS_SUFFIX):
        return filepath[: -len(KERAS_WEIGHTS_SUFFIX)]
    return filepath


def find_checkpoints(trial_dir):
    """The adapter checkpoints directly inside a trial directory.

    Args:
        trial_dir: a keras-tuner trial directory (`tuner.get_trial_dir(id)`).

    Returns:
        A sorted list of paths of saved adapter directories (empty when the
        trial wrote none, e.g. it failed before training).

    Example:

    >>> import os, tempfile, keras_hub
    >>> from keras_adapters import add_adapters, save_adapters
    >>> from keras_adapters.tuning.checkpoints import find_checkpoints
    >>> trial_dir = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(trial_dir, "notes"))
    >>> find_checkpoints(trial_dir)
    []
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8), "pfeiffer")
    >>> path = save_adapters(backbone, os.path.join(trial_dir, "checkpoint"))
    >>> [os.path.basename(p) for p in find_checkpoints(trial_dir)]
    ['checkpoint']
    """
    if not os.path.isdir(trial_dir):
        return []
    found = []
    for entry in os.scandir(trial_dir):
        if not entry.is_dir():
            continue
        try:
            read_adapter_file(entry.path)
        except ValueError:  # not a saved adapter (KerasAdaptersError is one)
            continue
        found.append(entry.path)
    return sorted(found)


class _AdapterCheckpoints:
    """`save_weights`/`load_weights` replacements bound to one model.

    Holds the model weakly: the model holds this object, and a strong
    reference back would keep every tuning trial's model alive until the
    garbage collector finds the cycle.
    """

    def __init__(self, model, name):
        self._model = weakref.ref(model)
        self._name = name

    def _get(self):
        model = self._model()
        if model is None:
            raise RuntimeError("The model of this checkpoint helper no longer exists.")
        return model

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Saves the adapter, trained layer norms and head with `save_adapters`."""
        if max_shard_size is not None:
            raise KerasAdaptersError("Adapter checkpoints are not sharded; drop max_shard_size.")
        save_adapters(self._get(), checkpoint_directory(filepath), name=self._name,
                      overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Loads an adapter checkpoint strictly with `load_adapters`.

        A Keras weights file (a file, not an adapter directory) is loaded
        with Keras' own `load_weights`.
        """
        model = self._get()
        if os.path.isfile(filepath):
            return type(model).load_weights(model, filepath, skip_mismatch=skip_mismatch, **kwargs)
        if skip_mismatch:
            raise KerasAdaptersError("Adapter checkpoints load strictly; skip_mismatch=True is not supported.")
        load_adapters(model, checkpoint_directory(filepath), name=self._name)


def use_task_weight_checkpoints(model, name=None):
    """Makes `model.save_weights`/`load_weights` write/read adapter checkpoints.

    For tools that checkpoint through `save_weights` and `load_weights`, as
    keras-tuner does for every trial (its best-epoch callback,
    `Tuner.load_model`, Hyperband's continued trials): they then keep the
    adapter, the trained layer norms and the head in the `save_adapters`
    format, a few percent of the model, instead of the whole frozen backbone
    once per trial. `save_weights("x.weights.h5")` writes the adapter
    directory `x`; `load_weights` checks it strictly (same backbone, adapter
    config and head) and leaves the model untouched on any mismatch. The
    methods are replaced on this instance only; the class, `model.save(...)`
    (`.keras`) and serialization are unchanged, and Keras' full-model
    versions stay available as `type(model).save_weights(model, path)`.

    Args:
        model: a Keras model containing one adapted backbone.
        name: the adapter to checkpoint; default: the backbone's only
            trainable (or only) adapter.

    Returns:
        `model`, for chaining.

    Example:

    >>> import keras_hub, os, tempfile
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.tuning import use_task_weight_checkpoints
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> model = use_task_weight_checkpoints(PooledTextClassifier(backbone, num_classes=2))
    >>> directory = tempfile.mkdtemp()
    >>> model.save_weights(os.path.join(directory, "task.weights.h5"))
    >>> sorted(os.listdir(os.path.join(directory, "task")))
    ['adapter_config.json', 'adapter_weights.safetensors']
    >>> model.load_weights(os.path.join(directory, "task.weights.h5"))
    """
    helper = _AdapterCheckpoints(model, name)
    # Instance attributes shadow the class methods for this model only. Keras'
    # attribute tracker ignores bound methods, so nothing else changes.
    model.save_weights = helper.save_weights
    model.load_weights = helper.load_weights
    return model
