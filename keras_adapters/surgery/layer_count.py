"""The transformer blocks of a backbone that take adapters, and how many there are.

Adapter layer indices (`AdapterConfig.layers`, `"top:K"` in the tuner) count
the transformer blocks of every stack of a backbone, in the order its adapted
class lists them (`transformer_block_attributes`): for BART the N encoder
blocks are 0 to N-1 and the N decoder blocks N to 2N-1, so BART has 2N. This
module is the one place that counts them, for plain and adapted backbones
alike.
"""


def adaptable_blocks(backbone):
    """The transformer blocks of a backbone, in adapter layer-index order.

    Args:
        backbone: a supported KerasHub backbone, plain or adapted.

    Returns:
        A list of `TransformerEncoder`/`TransformerDecoder` layers.

    Raises:
        TypeError: for a backbone keras-adapters does not support.

    Example:

    >>> import keras_hub
    >>> from keras_adapters.surgery.layer_count import adaptable_blocks
    >>> bart = keras_hub.models.BartBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> [type(block).__name__ for block in adaptable_blocks(bart)]
    ['TransformerEncoder', 'TransformerEncoder', 'TransformerDecoder', 'TransformerDecoder']
    """
    # Imported here: `backbones` imports `adapted_backbone`, which can then
    # use this module without an import cycle.
    from keras_adapters.surgery.backbones import adapted_class_for

    blocks = []
    for attribute in adapted_class_for(backbone).transformer_block_attributes:
        blocks.extend(getattr(backbone, attribute))
    return blocks


def num_adaptable_blocks(backbone):
    """How many transformer blocks a backbone has for adapters (encoder + decoder).

    Layer indices of an `AdapterConfig` range over `0 .. num_adaptable_blocks - 1`.

    Args:
        backbone: a supported KerasHub backbone, plain or adapted.

    Returns:
        An int: `num_layers` for encoder-only and decoder-only backbones,
        `2 * num_layers` for BART.

    Raises:
        TypeError: for a backbone keras-adapters does not support.

    Example:

    >>> import keras_hub
    >>> from keras_adapters.surgery.layer_count import num_adaptable_blocks
    >>> bert = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=3, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> num_adaptable_blocks(bert)
    3
    """
    return len(adaptable_blocks(backbone))
