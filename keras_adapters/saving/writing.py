"""Writing an adapter directory: `save_adapters`.

The format is described in `keras_adapters.saving.adapter_files`.
"""

import hashlib
import json
import os

import keras
import numpy as np
import safetensors.numpy

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.saving.adapter_files import (
    CONFIG_FILE,
    FILE_FORMAT,
    FILE_FORMAT_VERSION,
    WEIGHTS_FILE,
    backbone_signature,
    describe_non_finite,
    find_adapted_backbone,
    non_finite_tensors,
    tensor_map,
)
from keras_adapters.utils.atomic import atomic_directory

__all__ = ["save_adapters"]


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
    backbone, name, config, tensors = tensor_map(model, name, include_head)
    arrays = {
        key: np.asarray(keras.ops.convert_to_numpy(v), dtype="float32")
        for key, v in tensors.items()
    }
    non_finite = non_finite_tensors(arrays)
    if non_finite:
        raise KerasAdaptersError(
            f"Refusing to save adapter {name!r} to {os.fspath(path)!r}: "
            f"{describe_non_finite(non_finite)}. The training diverged (try a lower "
            "learning rate); nothing was written."
        )
    document = {
        "format": FILE_FORMAT,
        "format_version": FILE_FORMAT_VERSION,
        "adapter_name": name,
        "adapter_config": config.to_dict(),
        "backbone": backbone_signature(backbone),
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
