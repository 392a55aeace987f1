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

This module holds what the other modules of `keras_adapters.saving` share:
the file names and versions, and which model variables the tensor keys name.
Writing is in `writing` (`save_adapters`), reading and verifying in
`verification` (`read_adapter_file`, `read_adapter_weights`), loading into a
model in `loading` (`load_adapters`), and rebuilding a whole task in
`task_restore` (`load_task`).
"""

import re

import numpy as np

from keras_adapters.config import SAVED_ADAPTER_CONFIG_FILE
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery.adapted_backbone import AdaptedBackbone
from keras_adapters.surgery.blocks import block_hidden_dim
from keras_adapters.utils.fingerprint import weights_fingerprint

__all__ = ["CONFIG_FILE", "FILE_FORMAT", "FILE_FORMAT_VERSION", "WEIGHTS_FILE"]

CONFIG_FILE = SAVED_ADAPTER_CONFIG_FILE
WEIGHTS_FILE = "adapter_weights.safetensors"
FILE_FORMAT = "keras-adapters/adapter"
# 2: `weights_sha256` is recorded (and required). 1: no digest.
FILE_FORMAT_VERSION = 2
# The first version whose files must carry `weights_sha256`.
DIGEST_REQUIRED_FROM = 2
# How many offending tensor names a message lists.
MAX_LISTED = 5
# The tensor keys `save_adapters` writes (see the module docstring).
TENSOR_KEY_PATTERN = re.compile(r"(adapter|layer_norm)/.|head/\d+/.")


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


def backbone_signature(backbone):
    """What the file records of the backbone, and loading compares: `{field: value}`."""
    blocks = backbone.transformer_blocks
    return {
        "class": backbone.keras_hub_class.__name__,
        "num_transformer_blocks": len(blocks),
        "hidden_dim": int(block_hidden_dim(blocks[0])),
        # Same for every adapter trained on one base: catches adapters
        # trained on another checkpoint of the same shape.
        "frozen_weights_sha256": weights_fingerprint(backbone, frozen_only=True),
    }


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


def tensor_map(model, name, include_head):
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


def non_finite_tensors(arrays):
    """`{key: count}` of the tensors holding NaN or infinite values."""
    counts = {key: int(np.size(a) - np.count_nonzero(np.isfinite(a))) for key, a in arrays.items()}
    return {key: count for key, count in counts.items() if count}


def describe_non_finite(non_finite):
    """A message fragment naming the tensors of `non_finite_tensors(...)`."""
    shown = "; ".join(f"{key} ({count} values)" for key, count in list(non_finite.items())[:MAX_LISTED])
    more = f" and {len(non_finite) - MAX_LISTED} more" if len(non_finite) > MAX_LISTED else ""
    return f"{len(non_finite)} tensor(s) hold NaN or infinite values: {shown}{more}"


def head_index(key):
    """The `<index>` of a `head/<index>/<weight path>` tensor key (a string)."""
    return key.split("/", 2)[1]
