"""`add_adapters`: clone a KerasHub backbone with adapters inserted."""

import keras

from keras_adapters.config import AdapterConfig
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery.adapted_backbone import AdaptedBackbone
from keras_adapters.surgery.adapter_checks import (
    check_bottleneck,
    validate_adapter_name,
)
from keras_adapters.surgery.backbones import adapted_class_for
from keras_adapters.surgery.blocks import block_hidden_dim


def add_adapters(backbone, config="houlsby", name="default", **overrides):
    """Returns a new backbone: a clone of `backbone` with adapters added.

    The clone carries the backbone's weights and is of its KerasHub family
    (`isinstance(new, type(backbone))` holds for a plain backbone), so every
    KerasHub task of the family works on it. In each selected transformer
    block, an adapter goes on the self-attention branch and/or the
    feed-forward branch (per `config.placements`), on the sublayer output
    after its dropout and before the residual add and layer norm. The new
    adapter is the active and trainable one; every other weight is frozen,
    except the layer norms of the selected blocks when the config trains
    them (`layers=None`: every block's, and the embedding norm). The original
    `backbone` is not modified.

    On an already adapted backbone, the clone keeps the existing adapters
    (frozen, inactive) and adds the new one.

    The resolved bottleneck may be at most 4 times the backbone's hidden
    size (`MAX_BOTTLENECK_PER_HIDDEN`): an adapter is narrower than the
    model and never wider than its feed-forward layers. This is checked
    before anything is cloned or allocated.

    Args:
        backbone: a supported KerasHub backbone (see
            `keras_adapters.supported_backbones()`), plain or adapted.
        config: an `AdapterConfig`, a preset name (`"houlsby"`,
            `"pfeiffer"`), a dict or a JSON file path.
        name: str. Name of the new adapter.
        **overrides: `AdapterConfig` fields to change, e.g.
            `bottleneck_size=32`.

    Returns:
        A new backbone of the adapted subclass of `type(backbone)`.

    Raises:
        TypeError: if the backbone is not supported.
        KerasAdaptersError: for an invalid name or config, a layer index out
            of range, a name the backbone already uses, or a bottleneck wider
            than 4 x the hidden size.

    Example:

    >>> import keras_hub
    >>> from keras_adapters import add_adapters, count_parameters
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> adapted = add_adapters(backbone, "houlsby", bottleneck_size=4)
    >>> isinstance(adapted, keras_hub.models.BertBackbone)
    True
    >>> adapted.adapter_names
    ('default',)
    >>> count_parameters(adapted).trainable  # 4 adapters x 148 + 5 norms x 32
    752
    """
    adapted_class = adapted_class_for(backbone)
    validate_adapter_name(name)
    config = AdapterConfig.get(config, **overrides)
    for attribute in adapted_class.transformer_block_attributes:
        for block in getattr(backbone, attribute)[:1]:
            check_bottleneck(name, config, block_hidden_dim(block))
    existing = {}
    if isinstance(backbone, AdaptedBackbone):
        existing = {n: backbone.get_adapter_config(n) for n in backbone.adapter_names}
        if name in existing:
            raise KerasAdaptersError(
                f"This backbone already has an adapter named {name!r}; adding it "
                "again would insert a second copy. Pass another `name`."
            )
    backbone_config = backbone.get_config()
    backbone_config.update(
        adapters={**existing, name: config},
        active_adapters=[name],
        trainable_adapters=[name],
        trainable_fusions=[],
    )
    clone = adapted_class.from_config(backbone_config)
    _copy_weights(backbone, clone, new_variables=clone.adapter_weights(name))
    return clone


def _copy_weights(source, target, new_variables):
    """Copies every weight of `source` into `target`, minus `new_variables`.

    Both models are built from the same config, so their weights come in
    the same order; names and shapes are checked pair by pair.
    """
    skip = {id(v) for v in new_variables}
    target_weights = [w for w in target.weights if id(w) not in skip]
    source_weights = source.weights
    if len(source_weights) != len(target_weights):
        raise RuntimeError(
            f"Internal error cloning {type(source).__name__}: {len(source_weights)} "
            f"source weights but {len(target_weights)} in the clone."
        )
    for src, dst in zip(source_weights, target_weights):
        if src.name != dst.name or tuple(src.shape) != tuple(dst.shape):
            raise RuntimeError(
                f"Internal error cloning {type(source).__name__}: weight "
                f"{src.path} {tuple(src.shape)} lines up with {dst.path} "
                f"{tuple(dst.shape)}."
            )
        # A copy, not the source's buffer: on JAX, a traced predict/fit of
        # one model donates (deletes) its weights' buffers, which would break
        # the other model if they shared them.
        dst.assign(keras.ops.copy(src.value))
