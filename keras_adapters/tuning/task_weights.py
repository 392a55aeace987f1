"""Task-weight checkpoints: the trained part of an adapted model, not the backbone.

A model built on an adapted backbone trains a few percent of its weights:
the adapters, the layer norms the adapter config trains, and the task head.
The frozen backbone is the same pretrained one for every task (and every
tuning trial), so a checkpoint needs only the rest. This module writes and
reads exactly that set, called the *task weights* here:

    every weight of the model, except the backbone's non-trainable weights

(so the head's non-trainable state, e.g. batch-norm statistics, is kept).

File format: one HDF5 file (a `.weights.h5` name works as keras-tuner
expects) holding

    attrs   format, format_version, num_tensors, num_scalars
    index   JSON (uint8 bytes): one entry per tensor, in model order:
            {"path", "name", "shape", "dtype"}
    values/<dtype>  every tensor of that dtype, flattened and concatenated

One dataset per dtype rather than one per tensor: HDF5 spends about a
kilobyte of metadata per dataset, which would dominate small adapters.
"""

import json
import os
import tempfile
import weakref

import h5py
import keras
import numpy as np

FILE_FORMAT = "keras-adapters/task-weights"
FILE_FORMAT_VERSION = 1


def _backbone_of(model, backbone):
    backbone = backbone if backbone is not None else getattr(model, "backbone", None)
    if backbone is None:
        raise ValueError(
            f"{type(model).__name__} {model.name!r} has no `backbone` attribute; pass "
            "the backbone whose frozen weights should be left out (`backbone=`)."
        )
    return backbone


def task_weights(model, backbone=None):
    """Returns the variables a task-weight checkpoint holds, in model order.

    Args:
        model: a Keras model containing `backbone`.
        backbone: the (adapted) backbone inside `model`; default:
            `model.backbone` (KerasHub tasks and `PooledTextClassifier`).

    Returns:
        A list of variables: every weight of `model` except the backbone's
        non-trainable ones. Trainability is read now, so a model and a
        fresh copy built the same way select the same variables.

    Raises:
        ValueError: if the backbone cannot be found.

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.tuning import task_weights
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> model = PooledTextClassifier(backbone, num_classes=2)
    >>> # 4 adapters x 148 + 5 layer norms x 32 + head (16 x 2 + 2)
    >>> sum(int(np.prod(w.shape)) for w in task_weights(model))
    786
    """
    backbone = _backbone_of(model, backbone)
    trainable = {id(w) for w in model.trainable_weights}
    frozen_backbone = {id(w) for w in backbone.weights if id(w) not in trainable}
    return [w for w in model.weights if id(w) not in frozen_backbone]


def _dtype(variable):
    return keras.backend.standardize_dtype(variable.dtype)


def save_task_weights(model, filepath, backbone=None, overwrite=True):
    """Writes the task weights of `model` (not the frozen backbone) to one file.

    The file is written next to its destination and renamed into place, so
    an interrupted save leaves the previous checkpoint intact.

    Args:
        model: a Keras model containing an adapted backbone.
        filepath: the file to write (e.g. `"checkpoint.weights.h5"`).
        backbone: see `task_weights`.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        FileExistsError: if `filepath` exists and `overwrite` is False.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.tuning import save_task_weights
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> model = PooledTextClassifier(backbone, num_classes=2)
    >>> path = save_task_weights(model, tempfile.mkdtemp() + "/task.weights.h5")
    >>> import h5py
    >>> with h5py.File(path) as f:  # of 7,138 parameters in the model
    ...     print(f.attrs["num_tensors"], f.attrs["num_scalars"])
    28 786
    """
    filepath = os.fspath(filepath)
    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(f"{filepath} already exists; pass overwrite=True to replace it.")
    variables = task_weights(model, backbone)
    index, groups = [], {}
    for variable in variables:
        dtype = _dtype(variable)
        index.append(
            {
                "path": variable.path,
                "name": variable.name,
                "shape": [int(d) for d in variable.shape],
                "dtype": dtype,
            }
        )
        groups.setdefault(dtype, []).append(
            np.asarray(keras.ops.convert_to_numpy(variable)).reshape(-1)
        )
    parent = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(parent, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{os.path.basename(filepath)}.partial-", dir=parent)
    os.close(fd)
    try:
        with h5py.File(staging, "w") as f:
            f.attrs["format"] = FILE_FORMAT
            f.attrs["format_version"] = FILE_FORMAT_VERSION
            f.attrs["num_tensors"] = len(index)
            f.attrs["num_scalars"] = int(sum(np.prod(e["shape"]) for e in index))
            f.create_dataset("index", data=np.frombuffer(json.dumps(index).encode(), np.uint8))
            values = f.create_group("values")
            for dtype, arrays in groups.items():
                values.create_dataset(dtype, data=np.concatenate(arrays).astype(dtype))
        # mkstemp creates the file private (0600); give it a plain file's mode.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(staging, 0o666 & ~mask)
        os.replace(staging, filepath)
    except BaseException:
        if os.path.exists(staging):
            os.remove(staging)
        raise
    return filepath


def is_task_weights_file(filepath):
    """True if `filepath` is a file written by `save_task_weights`."""
    try:
        with h5py.File(os.fspath(filepath), "r") as f:
            return f.attrs.get("format") == FILE_FORMAT
    except (OSError, ValueError):
        return False


def load_task_weights(model, filepath, backbone=None):
    """Loads a `save_task_weights` file into a model built the same way.

    Strict: the file must hold exactly the model's task weights, in the same
    order, with the same variable names (`kernel`, `gamma`, ...), shapes and
    dtypes. Every tensor is checked before any is assigned, so a mismatch
    leaves the model untouched. Layer paths are not compared: auto-generated
    layer names differ between sessions.

    Args:
        model: a model built like the one saved (same adapter config, head).
        filepath: a file written by `save_task_weights`.
        backbone: see `task_weights`.

    Returns:
        None; the model's task weights are assigned in place.

    Raises:
        ValueError: if the file is not a task-weight file or does not match.
        FileNotFoundError: if the file does not exist.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.tuning import load_task_weights, save_task_weights
    >>> base = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> def build(bottleneck):
    ...     return PooledTextClassifier(
    ...         add_adapters(base, bottleneck_size=bottleneck), num_classes=2)
    >>> path = save_task_weights(build(4), tempfile.mkdtemp() + "/t.weights.h5")
    >>> load_task_weights(build(4), path)
    >>> load_task_weights(build(8), path)
    Traceback (most recent call last):
    ...
    ValueError: Cannot load task weights ...
    """
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"Task-weight checkpoint {filepath} does not exist.")
    if not is_task_weights_file(filepath):
        raise ValueError(
            f"{filepath} is not a keras-adapters task-weight checkpoint (written by "
            "save_task_weights or a model's save_weights after "
            "use_task_weight_checkpoints)."
        )
    with h5py.File(filepath, "r") as f:
        version = int(f.attrs["format_version"])
        if version > FILE_FORMAT_VERSION:
            raise ValueError(
                f"{filepath} has format_version {version}; this keras-adapters reads up "
                f"to {FILE_FORMAT_VERSION}. Upgrade it."
            )
        index = json.loads(bytes(f["index"][()]).decode())
        values = {dtype: f["values"][dtype][()] for dtype in f["values"]}
    variables = task_weights(model, backbone)
    problems = []
    if len(index) != len(variables):
        problems.append(f"the file has {len(index)} tensors, the model {len(variables)}")
    for position, (entry, variable) in enumerate(zip(index, variables)):
        shape = [int(d) for d in variable.shape]
        if (entry["name"], entry["shape"], entry["dtype"]) != (variable.name, shape, _dtype(variable)):
            problems.append(
                f"tensor {position}: file has {entry['path']} {tuple(entry['shape'])} "
                f"{entry['dtype']}, model has {variable.path} {tuple(shape)} {_dtype(variable)}"
            )
    if problems:
        shown = problems[:20]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ValueError(
            f"Cannot load task weights {filepath!r} into {type(model).__name__} "
            f"{model.name!r}; nothing was loaded. It was saved from a model with "
            "another adapter config or head. Mismatches:\n  " + "\n  ".join(shown) + more
        )
    offsets = dict.fromkeys(values, 0)
    arrays = []
    for entry in index:
        size = int(np.prod(entry["shape"]))
        start = offsets[entry["dtype"]]
        arrays.append(values[entry["dtype"]][start : start + size].reshape(entry["shape"]))
        offsets[entry["dtype"]] = start + size
    for variable, array in zip(variables, arrays):
        variable.assign(array)


class _TaskWeightCheckpoints:
    """`save_weights`/`load_weights` replacements bound to one model.

    Holds the model weakly: the model holds this object, and a strong
    reference back would keep every tuning trial's model alive until the
    garbage collector finds the cycle.
    """

    def __init__(self, model, backbone):
        self._model = weakref.ref(model)
        self._backbone = weakref.ref(backbone) if backbone is not None else None

    def _get(self):
        model = self._model()
        if model is None:
            raise RuntimeError("The model of this checkpoint helper no longer exists.")
        backbone = self._backbone() if self._backbone is not None else None
        return model, backbone

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Saves the task weights only (see `save_task_weights`)."""
        if max_shard_size is not None:
            raise ValueError("Task-weight checkpoints are a single file; drop max_shard_size.")
        model, backbone = self._get()
        save_task_weights(model, filepath, backbone=backbone, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Loads task weights (strict; see `load_task_weights`).

        A full Keras weights file is loaded with Keras' own `load_weights`.
        """
        model, backbone = self._get()
        if not is_task_weights_file(filepath):
            return type(model).load_weights(model, filepath, skip_mismatch=skip_mismatch, **kwargs)
        if skip_mismatch:
            raise ValueError("Task-weight checkpoints load strictly; skip_mismatch=True is not supported.")
        load_task_weights(model, filepath, backbone=backbone)


def use_task_weight_checkpoints(model, backbone=None):
    """Makes `model.save_weights`/`load_weights` write/read task weights only.

    For tools that checkpoint through `save_weights` and `load_weights`, as
    keras-tuner does for every trial (its best-epoch callback and
    `Tuner.load_model`): they then keep the adapters, trained layer norms
    and head, a few percent of the model, instead of the whole frozen
    backbone once per trial. The methods are replaced on this instance only;
    the class, `model.save(...)` (`.keras`), `save_adapters` and
    serialization are unchanged. Keras' full-model versions stay available
    as `type(model).save_weights(model, path)`.

    Args:
        model: a Keras model containing an adapted backbone.
        backbone: see `task_weights`.

    Returns:
        `model`, for chaining.

    Example:

    >>> import keras_hub, os, tempfile
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.tuning import use_task_weight_checkpoints
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> model = use_task_weight_checkpoints(PooledTextClassifier(backbone, num_classes=2))
    >>> directory = tempfile.mkdtemp()
    >>> model.save_weights(directory + "/task.weights.h5")
    >>> type(model).save_weights(model, directory + "/full.weights.h5")
    >>> sizes = [os.path.getsize(f"{directory}/{n}.weights.h5") for n in ("task", "full")]
    >>> sizes[0] < sizes[1] / 4
    True
    """
    backbone = _backbone_of(model, backbone)
    helper = _TaskWeightCheckpoints(model, backbone)
    # Instance attributes shadow the class methods for this model only. Keras'
    # attribute tracker ignores bound methods, so nothing else changes.
    model.save_weights = helper.save_weights
    model.load_weights = helper.load_weights
    return model
