"""Reading and verifying an adapter directory: `read_adapter_file`, `read_adapter_weights`.

What is checked, and why the digest is not a signature, is described in
`keras_adapters.saving.adapter_files`.
"""

import hashlib
import os

import numpy as np
import safetensors.numpy

from keras_adapters.config import AdapterConfig
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.saving.adapter_files import (
    CONFIG_FILE,
    DIGEST_REQUIRED_FROM,
    FILE_FORMAT,
    FILE_FORMAT_VERSION,
    MAX_LISTED,
    TENSOR_KEY_PATTERN,
    WEIGHTS_FILE,
    describe_non_finite,
    non_finite_tensors,
)
from keras_adapters.utils.json_files import read_json_object

__all__ = ["read_adapter_file", "read_adapter_weights"]


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
    if digest is None and document.get("format_version", 0) >= DIGEST_REQUIRED_FROM:
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
        if not TENSOR_KEY_PATTERN.match(k)
    ]
    has_head = any(key.startswith("head/") for key in arrays)
    if has_head != document["has_head"]:
        problems.append(
            f"{CONFIG_FILE} says has_head={document['has_head']}, but the file "
            f"{'holds' if has_head else 'holds no'} head/ tensors"
        )
    if problems:
        shown = "; ".join(problems[:MAX_LISTED])
        more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise KerasAdaptersError(
            f"Adapter weights file {weights_path!r} does not match {config_path!r}: "
            f"{shown}{more}. {damaged}"
        )
    non_finite = non_finite_tensors(arrays)
    if non_finite:
        raise KerasAdaptersError(
            f"Adapter weights file {weights_path!r} is unusable: "
            f"{describe_non_finite(non_finite)}. Every prediction would be NaN; "
            "nothing was loaded. Use an earlier checkpoint or train again."
        )
    return arrays
