"""Fingerprints of backbone weights, to recognise the base an adapter fits."""

import hashlib
import json

import keras
import numpy as np


def weights_fingerprint(backbone, frozen_only=False):
    """sha256 over a backbone's config and weights.

    The config is hashed without the keys that do not describe the
    pretrained network: `name`, `trainable`, `dtype` and the adapter state
    (`adapters`, `active_adapters`, `trainable_adapters`, `fusions`,
    `trainable_fusions`). By default every weight is hashed, adapter, fusion
    and layer-norm weights included, so an adapted or trained backbone does
    not match its base; hash the pristine base, or use `frozen_only`.

    Args:
        backbone: a KerasHub backbone, plain or adapted.
        frozen_only: hash only the weights that no adapter ever changes:
            skip adapters, fusion layers and layer norms (which Houlsby
            adapters train), so every task trained on one base backbone
            reports the same fingerprint (`save_adapters` records this one).

    Returns:
        A 64-character hex digest.

    Example:

    >>> import keras_hub
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.utils.fingerprint import weights_fingerprint
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8)
    >>> adapted = add_adapters(backbone, bottleneck_size=2)
    >>> weights_fingerprint(adapted, frozen_only=True) == weights_fingerprint(
    ...     backbone, frozen_only=True)
    True
    >>> weights_fingerprint(adapted) == weights_fingerprint(backbone)  # adapter weights count
    False
    """
    from keras_adapters.layers import AdapterFusion, AdapterLayer
    from keras_adapters.layers.projection_slot import ProjectionSlot

    digest = hashlib.sha256()
    config = backbone.get_config()
    for key in ("name", "trainable", "dtype", "adapters", "active_adapters",
                "trainable_adapters", "fusions", "trainable_fusions", "merged_adapter"):
        config.pop(key, None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    skipped = set()
    if frozen_only:
        for layer in backbone._flatten_layers(include_self=False):
            if isinstance(layer, (AdapterLayer, AdapterFusion, keras.layers.LayerNormalization)):
                skipped.update(id(w) for w in layer.weights)
            elif isinstance(layer, ProjectionSlot):
                # LoRA/(IA)^3/parallel adapters and merged copies; not the frozen projection.
                kept = {id(w) for w in layer.projection.weights}
                skipped.update(id(w) for w in layer.weights if id(w) not in kept)
    for weight in backbone.weights:
        if id(weight) in skipped:
            continue
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()
