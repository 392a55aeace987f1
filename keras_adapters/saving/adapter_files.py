"""Adapter-only files: one small directory per task.

Layout of a saved adapter directory:

    adapter_config.json          what was saved and for which backbone
    adapter_weights.safetensors  the adapter's tensors (float32)

Tensor keys:
    `adapter/<block>/<placement>/<down_projection|up_projection>/<kernel|bias>`
    `layer_norm/<weight path>`   backbone layer norms, when the adapter trains them
    `head/<index>/<weight path>` weights of the task around the backbone

Verification: `adapter_config.json` records the sha256 digest of the
weights file (`weights_sha256`), written in the same atomic directory write,
and the name and shape of every tensor (`tensors`). Loading checks the
digest before parsing the weights, then that the file holds exactly the
listed float32 tensors, that `has_head` matches them, and that every value
is finite; saving refuses NaN or infinite weights. Any failure is a
`KerasAdaptersError` naming the file, and nothing is loaded.

The digest detects damage (a truncated copy, flipped bytes, a file swapped
from another save); it is not a signature: whoever can edit the weights can
also edit the recorded digest. Files of format version 1, written before
digests existed, have none: they load with the digest check skipped (every
other check still runs), so adapters trained with earlier releases keep
working. From format version 2 on the digest is required.
"""

import hashlib
import json
import os
import re

import keras
import numpy as np
import safetensors.numpy

from keras_adapters.config import SAVED_ADAPTER_CONFIG_FILE, AdapterConfig, read_json_object
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery.adapted_backbone import AdaptedBackbone
from keras_adapters.surgery.blocks import block_hidden_dim
from keras_adapters.utils.fingerprint import weights_fingerprint
from keras_adapters.utils.atomic import atomic_directory

CONFIG_FILE = SAVED_ADAPTER_CONFIG_FILE
WEIGHTS_FILE = "adapter_weights.safetensors"
FILE_FORMAT = "keras-adapters/adapter"
# 2: `weights_sha256` is recorded (and required). 1: no digest.
FILE_FORMAT_VERSION = 2
# The first version whose files must carry `weights_sha256`.
_DIGEST_REQUIRED_FROM = 2
# How many offending tensor names a message lists.
_SHOWN = 5
# The tensor keys `save_adapters` writes (see the module docstring).
_KEY_PATTERN = re.compile(r"(adapter|layer_norm)/.|head/\d+/.")


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
        raise KerasAdaptersError(
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
    # The preprocessor's config lacks its vocabulary (KerasHub keeps that in
    # preset assets): `load_task` takes the preprocessor as an argument instead.
    config = {k: v for k, v in config.items() if k not in ("backbone", "preprocessor")}
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
        raise KerasAdaptersError(
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
        if not hasattr(layer, "down_projection"):
            # LoRA (lora_a, lora_b) and (IA)^3 (scale): the layer's own weights.
            for variable in layer.weights:
                tensors[f"adapter/{block}/{placement}/{variable.name}"] = variable
            continue
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
        KerasAdaptersError: if a weight to save is NaN or infinite
            (nothing is written).
        FileExistsError: if `path` exists and `overwrite` is False.

    Example:

    >>> import keras_hub, tempfile, os
    >>> from keras_adapters import add_adapters, save_adapters
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
    non_finite = _non_finite_tensors(arrays)
    if non_finite:
        raise KerasAdaptersError(
            f"Refusing to save adapter {name!r} to {os.fspath(path)!r}: "
            f"{_describe_non_finite(non_finite)}. The training diverged (try a lower "
            "learning rate); nothing was written."
        )
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
        weights_path = os.path.join(staging, WEIGHTS_FILE)
        safetensors.numpy.save_file(arrays, weights_path)
        # Digest of the bytes as written, published with them in one rename.
        with open(weights_path, "rb") as f:
            document["weights_sha256"] = hashlib.sha256(f.read()).hexdigest()
        with open(os.path.join(staging, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2, sort_keys=True)
    return os.fspath(path)


def _non_finite_tensors(arrays):
    """`{key: count}` of the tensors holding NaN or infinite values."""
    counts = {key: int(np.size(a) - np.count_nonzero(np.isfinite(a))) for key, a in arrays.items()}
    return {key: count for key, count in counts.items() if count}


def _describe_non_finite(non_finite):
    shown = "; ".join(f"{key} ({count} values)" for key, count in list(non_finite.items())[:_SHOWN])
    more = f" and {len(non_finite) - _SHOWN} more" if len(non_finite) > _SHOWN else ""
    return f"{len(non_finite)} tensor(s) hold NaN or infinite values: {shown}{more}"


def read_adapter_file(path):
    """Reads and checks `adapter_config.json` of a saved adapter directory.

    Args:
        path: a directory written by `save_adapters`.

    Returns:
        The parsed JSON document (a dict), with `adapter_config` as an
        `AdapterConfig`.

    Raises:
        KerasAdaptersError: if the directory is not a keras-adapters
            adapter, or its `adapter_config.json` is truncated, invalid or
            incomplete (the message names the file).

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters import add_adapters, read_adapter_file, save_adapters
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
        raise KerasAdaptersError(
            f"{path} is not a saved adapter: expected {CONFIG_FILE} and "
            f"{WEIGHTS_FILE} in it (written by keras_adapters.save_adapters)."
        )
    document = read_json_object(config_path, "Adapter file")
    if document.get("format") != FILE_FORMAT:
        raise KerasAdaptersError(f"{config_path} is not a keras-adapters adapter config.")
    version = document.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise KerasAdaptersError(
            f"{config_path} has an invalid format_version {version!r} (an integer is expected)."
        )
    if version > FILE_FORMAT_VERSION:
        raise KerasAdaptersError(
            f"{config_path} has format_version {version}; this "
            f"keras-adapters reads up to {FILE_FORMAT_VERSION}. Upgrade it."
        )
    _check_document_fields(document, config_path)
    try:
        document["adapter_config"] = AdapterConfig.from_dict(document["adapter_config"])
    except KerasAdaptersError as e:
        raise KerasAdaptersError(f"{config_path}: {e}") from None
    return document


# Top-level fields of `adapter_config.json`, their Python types and JSON names.
_DOCUMENT_FIELDS = {
    "adapter_name": (str, "string"),
    "adapter_config": (dict, "object"),
    "backbone": (dict, "object"),
    "has_head": (bool, "boolean"),
    "tensors": (dict, "object"),
    "metadata": (dict, "object"),
}


def _check_document_fields(document, config_path):
    """Raises KerasAdaptersError for a missing or mistyped field."""
    problems = [
        f"`{field}` must be a JSON {json_name}, got "
        + ("nothing" if field not in document else repr(document[field]))
        for field, (kind, json_name) in _DOCUMENT_FIELDS.items()
        if not isinstance(document.get(field), kind)
    ]
    task = document.get("task")
    if task is not None and not isinstance(task, dict):
        problems.append(f"`task` must be a JSON object or null, got {task!r}")
    for key, shape in (document.get("tensors") or {}).items():
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            problems.append(f"tensor {key!r} has an invalid shape {shape!r}")
            break
    digest = document.get("weights_sha256")
    if digest is None and document.get("format_version", 0) >= _DIGEST_REQUIRED_FROM:
        problems.append(
            "`weights_sha256` (the digest of the weights file) is missing, so the "
            "weights cannot be verified"
        )
    elif digest is not None and not (
        isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    ):
        problems.append(f"`weights_sha256` must be 64 lowercase hex digits, got {digest!r}")
    if problems:
        raise KerasAdaptersError(
            f"{config_path} is damaged or was edited: " + "; ".join(problems)
            + ". Restore the adapter directory from a copy, or save it again."
        )


def read_adapter_weights(path, document=None):
    """Reads and verifies the weights of a saved adapter directory.

    Checks, in order: the file's sha256 digest against the one recorded in
    `adapter_config.json` (skipped only for format-1 files, which predate
    digests), that it parses as safetensors, that it holds exactly the
    tensors (names and shapes) the config lists, all float32, that
    `has_head` matches the `head/` tensors present, and that every value is
    finite.

    Args:
        path: a directory written by `save_adapters`.
        document: its `read_adapter_file(path)`, if already read.

    Returns:
        A dict from tensor key to float32 numpy array.

    Raises:
        KerasAdaptersError: on any failed check; the message names the
            file and what is wrong.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters import add_adapters, save_adapters
    >>> from keras_adapters.saving import read_adapter_weights
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), "pfeiffer", bottleneck_size=4)
    >>> path = save_adapters(backbone, tempfile.mkdtemp() + "/a")
    >>> weights = read_adapter_weights(path)
    >>> weights["adapter/0/feedforward/down_projection/kernel"].shape
    (16, 4)
    >>> with open(path + "/adapter_weights.safetensors", "r+b") as f:
    ...     _ = f.seek(-3, 2)
    ...     _ = f.write(b"bad")
    >>> read_adapter_weights(path)
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Adapter weights file '.../adapter_weights.safetensors' does not match the sha256 digest recorded in ...
    """
    path = os.fspath(path)
    if document is None:
        document = read_adapter_file(path)
    weights_path = os.path.join(path, WEIGHTS_FILE)
    config_path = os.path.join(path, CONFIG_FILE)
    try:
        with open(weights_path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise KerasAdaptersError(
            f"Adapter weights file {weights_path!r} cannot be read: {e.strerror or e}."
        ) from None
    damaged = (
        "It was damaged (e.g. truncated or corrupted in a copy) or changed after "
        "saving; restore the adapter directory from a copy, or train again. Nothing "
        "was loaded."
    )
    recorded = document.get("weights_sha256")
    if recorded is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != recorded:
            raise KerasAdaptersError(
                f"Adapter weights file {weights_path!r} does not match the sha256 "
                f"digest recorded in {config_path!r} (file {actual[:12]}..., recorded "
                f"{recorded[:12]}...; {len(data):,} bytes). {damaged}"
            )
    try:
        arrays = safetensors.numpy.load(data)
    except Exception as e:  # safetensors raises its own and numpy's errors.
        size = "it is empty" if not data else f"{len(data):,} bytes"
        raise KerasAdaptersError(
            f"Adapter weights file {weights_path!r} is not a valid safetensors file "
            f"({size}: {e}). {damaged}"
        ) from None
    problems = []
    listed = {key: tuple(shape) for key, shape in document["tensors"].items()}
    held = {key: tuple(array.shape) for key, array in arrays.items()}
    problems += [f"tensor {k} is listed in {CONFIG_FILE} but missing" for k in listed if k not in held]
    problems += [f"tensor {k} is not listed in {CONFIG_FILE}" for k in held if k not in listed]
    problems += [
        f"tensor {k} has shape {held[k]}, {CONFIG_FILE} lists {listed[k]}"
        for k in listed
        if k in held and held[k] != listed[k]
    ]
    problems += [
        f"tensor {k} has dtype {a.dtype}, not float32" for k, a in arrays.items() if a.dtype != np.float32
    ]
    problems += [
        f"tensor {k} has a key of no known kind (adapter/, layer_norm/ or head/<index>/)"
        for k in arrays
        if not _KEY_PATTERN.match(k)
    ]
    has_head = any(key.startswith("head/") for key in arrays)
    if has_head != document["has_head"]:
        problems.append(
            f"{CONFIG_FILE} says has_head={document['has_head']}, but the file "
            f"{'holds' if has_head else 'holds no'} head/ tensors"
        )
    if problems:
        shown = "; ".join(problems[:_SHOWN])
        more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise KerasAdaptersError(
            f"Adapter weights file {weights_path!r} does not match {config_path!r}: "
            f"{shown}{more}. {damaged}"
        )
    non_finite = _non_finite_tensors(arrays)
    if non_finite:
        raise KerasAdaptersError(
            f"Adapter weights file {weights_path!r} is unusable: "
            f"{_describe_non_finite(non_finite)}. Every prediction would be NaN; "
            "nothing was loaded. Use an earlier checkpoint or train again."
        )
    return arrays


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
        KerasAdaptersError: on any mismatch between the file and the model,
            or if the files fail verification (`read_adapter_weights`).

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters import add_adapters, load_adapters, save_adapters
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
    # Merged copies would keep the old weights: refuse rather than serve them.
    backbone._refuse_while_merged("load_adapters")
    name = name or document["adapter_name"]
    if include_head is None:
        include_head = document["has_head"]
    problems = []
    if name not in backbone.adapter_names:
        raise KerasAdaptersError(
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
        raise KerasAdaptersError(_mismatch_message(path, problems))

    _, _, _, targets = _tensor_map(model, name, include_head)
    arrays = read_adapter_weights(path, document)
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
        raise KerasAdaptersError(_mismatch_message(path, problems))
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
            for key, variable in _tensor_map(model, name, True)[3].items()
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
    heads = {int(key.split("/", 2)[1]): list(a.shape) for key, a in arrays.items() if key.startswith("head/")}
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
