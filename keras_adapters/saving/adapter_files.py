"""Adapter-only files: one small directory per task.

Layout of a saved adapter directory:

    adapter_config.json          what was saved and for which backbone
    adapter_weights.safetensors  the adapter's tensors (float32)

Tensor keys:
    `adapter/<block>/<placement>/<down_projection|up_projection>/<kernel|bias>`
    `layer_norm/<weight path>`   backbone layer norms, when the adapter trains them
    `head/<index>/<weight path>` weights of the task around the backbone
"""

import json
import os

import keras
import numpy as np
import safetensors.numpy

from keras_adapters.config import SAVED_ADAPTER_CONFIG_FILE, AdapterConfig
from keras_adapters.surgery.adapted_backbone import AdaptedBackbone
from keras_adapters.surgery.blocks import block_hidden_dim
from keras_adapters.utils.fingerprint import weights_fingerprint
from keras_adapters.utils.atomic import atomic_directory

CONFIG_FILE = SAVED_ADAPTER_CONFIG_FILE
WEIGHTS_FILE = "adapter_weights.safetensors"
FILE_FORMAT = "keras-adapters/adapter"
FILE_FORMAT_VERSION = 1


def find_adapted_backbone(model):
    """Returns `(backbone, is_backbone)` for a backbone, task or model.

    Raises:
        ValueError: if the model holds no adapted backbone, or several.
    """
    if isinstance(model, AdaptedBackbone):
        return model, True
    candidates = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, AdaptedBackbone)
    ]
    if len(candidates) != 1:
        raise ValueError(
            f"Expected exactly one adapted backbone in {type(model).__name__} "
            f"{model.name!r}, found {len(candidates)}. Build one with "
            "keras_adapters.add_adapters(backbone, ...)."
        )
    return candidates[0], False


def _backbone_signature(backbone):
    blocks = backbone.transformer_blocks
    return {
        "class": backbone.keras_hub_class.__name__,
        "num_transformer_blocks": len(blocks),
        "hidden_dim": int(block_hidden_dim(blocks[0])),
        # Same for every adapter trained on one base: catches adapters
        # trained on another checkpoint of the same shape.
        "frozen_weights_sha256": weights_fingerprint(backbone, frozen_only=True),
    }


def _task_record(model, is_backbone):
    """How to rebuild the task around the backbone, or None for a backbone."""
    if is_backbone:
        return None
    try:
        config = model.get_config()
    except NotImplementedError:
        config = None
    if not isinstance(config, dict) or "backbone" not in config:
        return {"class": None, "reason": f"{type(model).__name__} has no config with a `backbone`"}
    config = {k: v for k, v in config.items() if k != "backbone"}
    try:
        json.dumps(config)
    except TypeError as e:
        return {"class": None, "reason": f"its config is not JSON-serializable ({e})"}
    return {"class": keras.saving.get_registered_name(type(model)), "config": config}


def _resolve_name(backbone, name):
    if name is not None:
        backbone.get_adapter_config(name)  # raises for unknown names
        return name
    candidates = backbone.trainable_adapters or backbone.adapter_names
    if len(candidates) != 1:
        raise ValueError(
            "Pass `name=`: this backbone has adapters "
            f"{list(backbone.adapter_names)} (trainable: "
            f"{list(backbone.trainable_adapters)})."
        )
    return candidates[0]


def _head_weights(model, backbone):
    backbone_ids = {id(w) for w in backbone.weights}
    return [w for w in model.weights if id(w) not in backbone_ids]


def _tensor_map(model, name, include_head):
    """Ordered dict key -> variable of everything an adapter file holds."""
    backbone, is_backbone = find_adapted_backbone(model)
    name = _resolve_name(backbone, name)
    config = backbone.get_adapter_config(name)
    tensors = {}
    for block, placement, layer in backbone.adapter_layers(name):
        for projection in (layer.down_projection, layer.up_projection):
            for variable in projection.weights:
                key = f"adapter/{block}/{placement}/{projection.name}/{variable.name}"
                tensors[key] = variable
    if config.train_layer_norms:
        for norm in backbone.layer_norm_layers():
            for variable in norm.weights:
                tensors[f"layer_norm/{variable.path}"] = variable
    if include_head and not is_backbone:
        for index, variable in enumerate(_head_weights(model, backbone)):
            tensors[f"head/{index}/{variable.path}"] = variable
    return backbone, name, config, tensors


def save_adapters(model, path, name=None, include_head=True, overwrite=False, metadata=None):
    """Saves one adapter (and the task head) to a small directory.

    Only the adapter's weights, the backbone layer norms when the adapter
    trains them, and, for a task model, the weights around the backbone (the
    head) are written: a few percent of the full model. The directory is
    written atomically.

    Args:
        model: an adapted backbone, or a model (e.g. a KerasHub task) that
            contains one.
        path: directory to write.
        name: which adapter; default: the only trainable (or only) one.
        include_head: for a task model, also save the head's weights.
        overwrite: replace an existing directory.
        metadata: optional JSON-serializable dict stored in the config
            (e.g. label names).

    Returns:
        The path written.

    Raises:
        ValueError: if the model holds no adapted backbone or `name` is
            ambiguous or unknown.
        FileExistsError: if `path` exists and `overwrite` is False.

    Example:

    >>> import keras_hub, tempfile, os
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> path = save_adapters(backbone, tempfile.mkdtemp() + "/my_task")
    >>> sorted(os.listdir(path))
    ['adapter_config.json', 'adapter_weights.safetensors']
    """
    backbone, name, config, tensors = _tensor_map(model, name, include_head)
    arrays = {
        key: np.asarray(keras.ops.convert_to_numpy(v), dtype="float32")
        for key, v in tensors.items()
    }
    document = {
        "format": FILE_FORMAT,
        "format_version": FILE_FORMAT_VERSION,
        "adapter_name": name,
        "adapter_config": config.to_dict(),
        "backbone": _backbone_signature(backbone),
        "has_head": any(k.startswith("head/") for k in arrays),
        "task": _task_record(model, find_adapted_backbone(model)[1]),
        "tensors": {k: list(a.shape) for k, a in arrays.items()},
        "metadata": metadata or {},
    }
    with atomic_directory(path, overwrite=overwrite) as staging:
        safetensors.numpy.save_file(arrays, os.path.join(staging, WEIGHTS_FILE))
        with open(os.path.join(staging, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2, sort_keys=True)
    return os.fspath(path)


def read_adapter_file(path):
    """Reads and checks `adapter_config.json` of a saved adapter directory.

    Args:
        path: a directory written by `save_adapters`.

    Returns:
        The parsed JSON document (a dict), with `adapter_config` as an
        `AdapterConfig`.

    Raises:
        ValueError: if the directory is not a keras-adapters adapter.

    Example:

    >>> import keras_hub, tempfile
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), "pfeiffer", name="topic")
    >>> document = read_adapter_file(save_adapters(backbone, tempfile.mkdtemp() + "/a"))
    >>> document["adapter_name"], document["adapter_config"].placements
    ('topic', ('feedforward',))
    """
    path = os.fspath(path)
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path) or not os.path.isfile(
        os.path.join(path, WEIGHTS_FILE)
    ):
        raise ValueError(
            f"{path} is not a saved adapter: expected {CONFIG_FILE} and "
            f"{WEIGHTS_FILE} in it (written by keras_adapters.save_adapters)."
        )
    with open(config_path, encoding="utf-8") as f:
        try:
            document = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{config_path} is not valid JSON: {e}") from None
    if document.get("format") != FILE_FORMAT:
        raise ValueError(f"{config_path} is not a keras-adapters adapter config.")
    if document.get("format_version", 0) > FILE_FORMAT_VERSION:
        raise ValueError(
            f"{config_path} has format_version {document['format_version']}; this "
            f"keras-adapters reads up to {FILE_FORMAT_VERSION}. Upgrade it."
        )
    document["adapter_config"] = AdapterConfig.from_dict(document["adapter_config"])
    return document


def load_adapters(model, path, name=None, include_head=None):
    """Loads a saved adapter into a model that has the same adapter.

    The model must already hold the adapter: build it with
    `add_adapters(backbone, config=path)` (the saved config) first. Every
    tensor is checked before any is assigned: a file for another backbone,
    another adapter config or another head fails with the full list of
    mismatches and leaves the model untouched.

    Args:
        model: an adapted backbone, or a model containing one.
        path: a directory written by `save_adapters`.
        name: adapter in `model` to load into; default: the saved name.
        include_head: load the head too. Default: exactly when the file has
            one. `True` with a file or model without head is an error, as is
            a file with a head loaded into a bare backbone.

    Returns:
        The adapter name loaded into.

    Raises:
        ValueError: on any mismatch between the file and the model.

    Example:

    >>> import keras_hub, tempfile
    >>> base = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> trained = add_adapters(base, bottleneck_size=4)
    >>> path = save_adapters(trained, tempfile.mkdtemp() + "/task")
    >>> fresh = add_adapters(base, config=path)
    >>> load_adapters(fresh, path)
    'default'
    """
    document = read_adapter_file(path)
    backbone, is_backbone = find_adapted_backbone(model)
    name = name or document["adapter_name"]
    if include_head is None:
        include_head = document["has_head"]
    problems = []
    if name not in backbone.adapter_names:
        raise ValueError(
            f"The model has no adapter named {name!r} (it has "
            f"{list(backbone.adapter_names)}). Create it first with "
            f"add_adapters(backbone, config={os.fspath(path)!r}, name={name!r})."
        )
    expected_signature = _backbone_signature(backbone)
    for field, saved in document["backbone"].items():
        if expected_signature.get(field) != saved:
            problems.append(
                f"backbone {field}: file has {saved!r}, model has "
                f"{expected_signature.get(field)!r}"
                + (" (the adapter was trained on another base backbone)"
                   if field == "frozen_weights_sha256" else "")
            )
    saved_config = document["adapter_config"]
    model_config = backbone.get_adapter_config(name)
    for field, saved in saved_config.to_dict().items():
        current = model_config.to_dict()[field]
        if current != saved:
            problems.append(f"adapter config {field}: file has {saved!r}, model has {current!r}")
    if include_head and not document["has_head"]:
        problems.append("include_head=True but the file holds no head weights")
    if include_head and is_backbone:
        problems.append(
            "the file holds a task head but the model is a bare backbone "
            "(pass include_head=False to load the adapter alone)"
        )
    if problems:
        raise ValueError(_mismatch_message(path, problems))

    _, _, _, targets = _tensor_map(model, name, include_head)
    arrays = safetensors.numpy.load_file(os.path.join(os.fspath(path), WEIGHTS_FILE))
    if not include_head:
        arrays = {k: a for k, a in arrays.items() if not k.startswith("head/")}
    missing = [k for k in targets if k not in arrays]
    unexpected = [k for k in arrays if k not in targets]
    if include_head:
        # Head keys carry an index and a path: the index decides, the path may
        # differ between sessions (auto-generated layer names).
        targets, missing, unexpected = _match_head_by_index(targets, arrays, missing, unexpected)
    problems += [f"missing tensor {k}" for k in missing]
    problems += [f"unexpected tensor {k}" for k in unexpected]
    for key, variable in targets.items():
        if key in arrays and tuple(arrays[key].shape) != tuple(variable.shape):
            problems.append(
                f"tensor {key}: file shape {tuple(arrays[key].shape)}, model "
                f"shape {tuple(variable.shape)}"
            )
    if problems:
        raise ValueError(_mismatch_message(path, problems))
    for key, variable in targets.items():
        variable.assign(arrays[key].astype(variable.dtype))
    return name


def _match_head_by_index(targets, arrays, missing, unexpected):
    def head_index(key):
        return key.split("/", 2)[1]

    file_heads = {head_index(k): k for k in arrays if k.startswith("head/")}
    remapped = {}
    for key, variable in targets.items():
        if key.startswith("head/") and head_index(key) in file_heads:
            remapped[file_heads[head_index(key)]] = variable
        else:
            remapped[key] = variable
    missing = [k for k in remapped if k not in arrays]
    unexpected = [k for k in arrays if k not in remapped]
    return remapped, missing, unexpected


def _mismatch_message(path, problems):
    shown = problems[:20]
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    return (
        f"Cannot load adapter {os.fspath(path)!r} into this model; nothing was "
        "loaded. Mismatches:\n  " + "\n  ".join(shown) + more
    )


def load_task(backbone, path):
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

    Returns:
        The task model (e.g. a `PooledTextClassifier`), with the saved
        adapter and head weights.

    Raises:
        ValueError: if the file holds no task, does not fit the backbone, or
            would overwrite the layer norms of adapters already sharing the
            backbone.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> base = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> task = PooledTextClassifier(add_adapters(base, "pfeiffer", name="sentiment"), 2)
    >>> path = save_adapters(task, tempfile.mkdtemp() + "/sentiment")
    >>> restored = load_task(base, path)
    >>> type(restored).__name__, restored.backbone.adapter_names
    ('PooledTextClassifier', ('sentiment',))
    """
    document = read_adapter_file(path)
    task = document.get("task")
    if not task or not task.get("class"):
        reason = (task or {}).get("reason", "it was saved from a bare backbone")
        raise ValueError(
            f"{os.fspath(path)!r} holds no task to restore ({reason}). Build the task "
            "model yourself and call load_adapters(model, path)."
        )
    name = document["adapter_name"]
    config = document["adapter_config"]
    if isinstance(backbone, AdaptedBackbone):
        others = [n for n in backbone.adapter_names if n != name]
        if config.train_layer_norms and others:
            raise ValueError(
                f"Adapter {name!r} trains the backbone's layer norms; loading it into a "
                f"backbone shared with adapters {others} would overwrite theirs. Train "
                "adapters that share a backbone with train_layer_norms=False (e.g. the "
                "'pfeiffer' preset), or load this task on its own backbone."
            )
        if name not in backbone.adapter_names:
            backbone.add_adapter(name, config)
        adapted = backbone
    else:
        from keras_adapters.surgery.add_adapters import add_adapters

        adapted = add_adapters(backbone, config, name=name)
    task_class = keras.saving.get_registered_object(task["class"])
    if task_class is None:
        raise ValueError(
            f"Task class {task['class']!r} is not registered; import the module that "
            "defines it before calling load_task."
        )
    model = task_class.from_config({**task["config"], "backbone": adapted})
    load_adapters(model, path)
    return model
