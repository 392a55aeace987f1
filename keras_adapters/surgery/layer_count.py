"""The transformer blocks of a backbone that take adapters, how many there are,
and what lies below them.

Adapter layer indices (`AdapterConfig.layers`, `"top:K"`, `--layers`) count
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


def layers_below_blocks(backbone):
    """The layers of a backbone's graph that run before its blocks and feed them.

    These are the embeddings, their layer norm and dropout (an adapted
    backbone's embedding adapter slot) and the inputs: every layer whose
    output reaches a transformer block without passing through another
    block. Layers that no block consumes (BERT's pooler, GPT-2's final layer
    norm) are not among them. Found from the functional graph, so it holds
    for every supported family without naming KerasHub's attributes.

    Args:
        backbone: a supported KerasHub backbone, plain or adapted.

    Returns:
        A list of layers, each once (the graph's top-level layers; an
        embedding layer nested in another is reached through its parent).

    Raises:
        TypeError: for a backbone keras-adapters does not support.

    Example:

    >>> import keras_hub
    >>> from keras_adapters.surgery.layer_count import layers_below_blocks
    >>> gpt2 = keras_hub.models.GPT2Backbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> sorted(layer.name for layer in layers_below_blocks(gpt2) if layer.weights)
    ['position_embedding', 'token_embedding']
    """
    blocks = {id(block) for block in adaptable_blocks(backbone)}
    # Only this graph's operations: a block reused in another model has
    # inbound nodes there too.
    operations = {id(operation) for operation in backbone.operations}
    below, seen = {}, set()
    stack = [node for block in adaptable_blocks(backbone) for node in block._inbound_nodes]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for parent in node.parent_nodes:
            operation = parent.operation
            if id(operation) in blocks or id(operation) not in operations:
                continue  # a lower block's own inputs are found from it
            below[id(operation)] = operation
            stack.append(parent)
    return list(below.values())


def lowest_trainable_block(backbone):
    """The index of the lowest transformer block holding a trainable weight.

    Everything that runs before that block is frozen, so its input is a
    function of the model's input alone (when the frozen layers run without
    dropout) and the backward pass stops there: what a frozen-prefix cache
    can skip.

    Args:
        backbone: a supported KerasHub backbone, plain or adapted, with its
            trainable flags as they are now (after `add_adapters`,
            `train_adapter`, ...).

    Returns:
        An int in adapter layer-index order (BART: encoder, then decoder
        blocks); `None` when a layer below the first block trains (token or
        position embeddings, the embedding layer norm, an embedding adapter),
        so there is no frozen prefix; `num_adaptable_blocks(backbone)` when no
        block and nothing below the blocks trains (only a head, a pooler or a
        final layer norm above them, or nothing).

    Raises:
        TypeError: for a backbone keras-adapters does not support.

    Example:

    >>> import keras_hub
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.surgery.layer_count import lowest_trainable_block
    >>> bert = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=4, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> lowest_trainable_block(bert) is None  # full fine-tuning: embeddings train
    True
    >>> lowest_trainable_block(add_adapters(bert, "houlsby", layers="top:2"))
    2
    """
    if any(layer.trainable_weights for layer in layers_below_blocks(backbone)):
        return None
    blocks = adaptable_blocks(backbone)
    for index, block in enumerate(blocks):
        if block.trainable_weights:
            return index
    return len(blocks)
