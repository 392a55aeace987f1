"""Rebuilding a whole task (adapter + head) from an adapter directory: `load_task`.

The directory's task record names the registered task class and its config;
the head weights are checked against what that config builds before loading.
"""

import os

import keras

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.saving.adapter_files import CONFIG_FILE, WEIGHTS_FILE, head_index, tensor_map
from keras_adapters.saving.loading import load_adapters
from keras_adapters.saving.verification import read_adapter_file, read_adapter_weights
from keras_adapters.surgery.adapted_backbone import AdaptedBackbone

__all__ = ["load_task"]


def load_task(backbone, path, preprocessor=None):
    """Restores a complete task (adapter + head) saved by `save_adapters`.

    On a plain backbone, the adapter is added to a clone (`add_adapters`).
    On an adapted backbone, it is added in place, so that many tasks share
    one frozen backbone; each returned model calls the shared backbone, so
    activate a task's adapter (`backbone.set_active_adapters(name)`) before
    using its model, or export them together with
    `keras_adapters.export.export_multitask_saved_model`.

    Args:
        backbone: the base backbone the adapter was trained on.
        path: a directory written by `save_adapters` from a task model.
        preprocessor: optional preprocessor for the rebuilt task (e.g. the
            preset's `TextClassifierPreprocessor`), so that it takes raw
            strings; the adapter file does not store one.

    Returns:
        The task model (e.g. a `PooledTextClassifier`), with the saved
        adapter and head weights.

    Raises:
        KerasAdaptersError: if the file holds no task, fails verification
            (`read_adapter_weights`), its task record does not match its
            head tensors (e.g. `has_head` or `num_classes` edited), it does
            not fit the backbone, or it would overwrite the layer norms of
            adapters already sharing the backbone. An adapted `backbone` is
            left as it was.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters import add_adapters, load_task, save_adapters
    >>> base = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> task = PooledTextClassifier(add_adapters(base, "pfeiffer", name="sentiment"), 2)
    >>> path = save_adapters(task, tempfile.mkdtemp() + "/sentiment")
    >>> restored = load_task(base, path)
    >>> type(restored).__name__, restored.backbone.adapter_names
    ('PooledTextClassifier', ('sentiment',))
    """
    path = os.fspath(path)
    config_path = os.path.join(path, CONFIG_FILE)
    document = read_adapter_file(path)
    task = document.get("task")
    if not task or not task.get("class"):
        reason = (task or {}).get("reason", "it was saved from a bare backbone")
        raise KerasAdaptersError(
            f"{path!r} holds no task to restore ({reason}). Build the task "
            "model yourself and call load_adapters(model, path)."
        )
    if not isinstance(task["class"], str) or not isinstance(task.get("config"), dict):
        raise KerasAdaptersError(
            f"{config_path} has an invalid task record (`task` needs a `class` name "
            f"and a `config` object); got {task!r}."
        )
    # Verify the weights before touching the backbone.
    arrays = read_adapter_weights(path, document)
    if not document["has_head"]:
        raise KerasAdaptersError(
            f"{config_path} records a task ({task['class']}) but no head weights "
            "(has_head is false): the head would be random. The file is damaged or was "
            "edited; restore it from a copy."
        )
    task_class = keras.saving.get_registered_object(task["class"])
    if task_class is None:
        raise KerasAdaptersError(
            f"Task class {task['class']!r} is not registered; import the module that "
            "defines it before calling load_task."
        )
    if not (isinstance(task_class, type) and issubclass(task_class, keras.Model)):
        raise KerasAdaptersError(
            f"{config_path}: the task class {task['class']!r} is not a Keras model."
        )
    file_heads = _head_shapes(arrays)
    num_classes = task["config"].get("num_classes")
    if isinstance(num_classes, int) and not any(shape[-1:] == [num_classes] for shape in file_heads):
        # Checked before building: an edited count would allocate a head of that size.
        raise KerasAdaptersError(
            _task_mismatch_message(
                path,
                task,
                [f"num_classes is {num_classes}, but no head tensor has {num_classes} "
                 f"outputs (head shapes {[tuple(s) for s in file_heads]})"],
            )
        )
    name = document["adapter_name"]
    config = document["adapter_config"]
    added_in_place = False
    if isinstance(backbone, AdaptedBackbone):
        others = [n for n in backbone.adapter_names if n != name]
        if config.train_layer_norms and others:
            raise KerasAdaptersError(
                f"Adapter {name!r} trains the backbone's layer norms; loading it into a "
                f"backbone shared with adapters {others} would overwrite theirs. Train "
                "adapters that share a backbone with train_layer_norms=False (e.g. the "
                "'pfeiffer' preset), or load this task on its own backbone."
            )
        if name not in backbone.adapter_names:
            backbone.add_adapter(name, config)
            added_in_place = True
        adapted = backbone
    else:
        from keras_adapters.surgery.add_adapters import add_adapters

        adapted = add_adapters(backbone, config, name=name)
    try:
        try:
            task_config = {**task["config"], "backbone": adapted}
            if preprocessor is not None:
                task_config["preprocessor"] = preprocessor
            model = task_class.from_config(task_config)
        except (TypeError, ValueError) as e:
            raise KerasAdaptersError(
                f"{config_path}: the task record cannot rebuild {task['class']} ({e})."
            ) from None
        model_heads = [
            list(variable.shape)
            for key, variable in tensor_map(model, name, True)[3].items()
            if key.startswith("head/")
        ]
        if model_heads != file_heads:
            raise KerasAdaptersError(
                _task_mismatch_message(
                    path,
                    task,
                    [f"the task record builds head tensors {[tuple(s) for s in model_heads]}, "
                     f"the weights file holds {[tuple(s) for s in file_heads]}"],
                )
            )
        load_adapters(model, path, include_head=True)
    except BaseException:
        if added_in_place:
            backbone.delete_adapter(name)
        raise
    return model


def _head_shapes(arrays):
    """Shapes of the `head/<index>/...` tensors, in index order."""
    heads = {int(head_index(key)): list(a.shape) for key, a in arrays.items() if key.startswith("head/")}
    return [heads[index] for index in sorted(heads)]


def _task_mismatch_message(path, task, problems):
    # Scalar settings only: a nested config (e.g. a preprocessor) can be huge.
    settings = {k: v for k, v in task["config"].items() if isinstance(v, (str, int, float, type(None)))}
    return (
        f"The task record in {os.path.join(path, CONFIG_FILE)!r} ({task['class']} with "
        f"{settings}) does not match the head weights in "
        f"{os.path.join(path, WEIGHTS_FILE)!r}: {'; '.join(problems)}. The file is "
        "damaged or was edited; restore it from a copy. Nothing was loaded."
    )
