"""Cutting a task model at its lowest trainable block: a frozen prefix and a trainable suffix.

When nothing below transformer block k trains, the tensors entering block k
(and whatever else the blocks above read: the padding mask, BART's encoder
output) are a pure function of the input, provided the frozen layers run
without dropout (`disable_prefix_dropout`). `split_frozen_prefix` cuts the
task's functional graph there, for every supported family and for KerasHub's
own tasks alike, from the graph itself (no KerasHub attribute is named):

- `prefix`: the backbone's inputs -> those tensors;
- `suffix`: those tensors (and the raw inputs the upper part reads) -> the
  task's outputs, built on the SAME layer objects, so training the suffix
  trains the task model itself.

`suffix(prefix(x))` equals `task(x)`. The frozen-prefix cache
(`keras_adapters.training.prefix_cache`) is built on this split.
"""

import keras

from keras_adapters.composition import Parallel
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery.compiled_functions import refresh_compiled_functions
from keras_adapters.surgery.layer_count import adaptable_blocks, lowest_trainable_block
from keras_adapters.utils.functional_graph import cut_graph, graph_nodes, is_model_input

__all__ = ["FrozenPrefixSplit", "disable_prefix_dropout", "split_frozen_prefix"]

_TOP_K_HINT = (
    "put adapters in the upper blocks only (AdapterConfig(layers='top:K'), --layers top:K) "
    "and train nothing below them"
)


class FrozenPrefixSplit:
    """A task model cut at block `block` (built by `split_frozen_prefix`).

    Attributes:
        backbone: the task's backbone.
        block: index of the first block of the suffix (adapter layer-index
            order: BART counts encoder, then decoder blocks).
        prefix: `keras.Model` from the backbone's input dict to a dict of
            the tensors the suffix needs (`cached_names`).
        suffix: `keras.Model` from a dict of those tensors plus the raw
            inputs in `feature_names` to the task's outputs, sharing the
            task's layers.
        cached_names: names of the prefix's outputs (`"frozen_prefix_0"`,
            ...), each with its `(shape, dtype)` in `cached_specs`.
        feature_names: the task's own inputs that the suffix reads as they
            are (e.g. `padding_mask`).
        prefix_inputs: backbone input name -> the task input feeding it.
        prefix_layers: the layers that run in the prefix.

    Args:
        backbone: see Attributes.
        block: see Attributes.
        prefix: see Attributes.
        suffix: see Attributes.
        cached_specs: dict name -> `(shape without the batch, dtype)` of
            the prefix's outputs.
        feature_names: see Attributes.
        prefix_inputs: see Attributes.
        prefix_layers: see Attributes.

    Example:

    >>> import keras_hub
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.training import disable_prefix_dropout, split_frozen_prefix
    >>> model = PooledTextClassifier(add_adapters(keras_hub.models.GPT2Backbone(
    ...     vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8), "pfeiffer", layers="top:1"), 2)
    >>> _ = disable_prefix_dropout(model)
    >>> split = split_frozen_prefix(model)
    >>> split.cached_specs, sorted(split.prefix_inputs)
    ({'frozen_prefix_0': ((None, 8), 'float32')}, ['padding_mask', 'token_ids'])
    """

    def __init__(self, backbone, block, prefix, suffix, cached_specs, feature_names,
                 prefix_inputs, prefix_layers):
        self.backbone = backbone
        self.block = block
        self.prefix = prefix
        self.suffix = suffix
        self.cached_specs = cached_specs
        self.cached_names = tuple(cached_specs)
        self.feature_names = tuple(feature_names)
        self.prefix_inputs = prefix_inputs
        self.prefix_layers = prefix_layers

    def prefix_features(self, features):
        """The prefix's input dict from a batch of task features."""
        return {name: features[feature] for name, feature in self.prefix_inputs.items()}


def _backbone_node(task):
    backbone = getattr(task, "backbone", None)
    functional = hasattr(task, "_nodes_by_depth") and backbone is not None
    nodes = [n for n in graph_nodes(task) if n.operation is backbone] if functional else []
    if len(nodes) != 1 or not isinstance(task.input, dict):
        raise KerasAdaptersError(
            f"Cannot split {type(task).__name__} {task.name!r} at a block: the frozen-prefix "
            "cache needs a functional task model with a dict of inputs that calls its `backbone` "
            "once (KerasHub tasks and keras_adapters.tasks models do)."
        )
    return nodes[0]


def _resolve_block(backbone, block):
    count = len(adaptable_blocks(backbone))
    lowest = lowest_trainable_block(backbone)
    if block is None:
        block = lowest
    elif isinstance(block, bool) or not isinstance(block, int) or not 0 < block <= count:
        raise KerasAdaptersError(f"`block` must be an int from 1 to {count}; got {block!r}.")
    if not block:
        raise KerasAdaptersError(
            "There is no frozen prefix to cache: the embeddings or block 0 of "
            f"{type(backbone).__name__} have trainable weights, so every block must run each "
            f"step. To train faster, {_TOP_K_HINT}."
        )
    if lowest is None or lowest < block:
        raise KerasAdaptersError(
            f"Cannot cache below block {block}: block {lowest} (or a layer below it) has "
            f"trainable weights, and the cache needs everything below block {block} frozen."
        )
    return block


def _backbone_split(backbone, block):
    """The backbone's graph cut at `block`.

    Returns:
        `(frontier, lower, upper_outputs, prefix_layers)`: the tensors the
        blocks from `block` on read; those plus the backbone outputs made
        below `block` (BART's encoder output when `block` is a decoder
        block); the outputs made from `block` on; the layers below `block`.
    """
    nodes = graph_nodes(backbone)
    in_graph = {id(n) for n in nodes}
    starts = {
        id(node) for b in adaptable_blocks(backbone)[block:] for node in b._inbound_nodes
        if id(node) in in_graph
    }
    upper, frontier = cut_graph(nodes, starts)
    made_in_upper = {id(t) for node in nodes if id(node) in upper for t in node.outputs}
    upper_outputs = [t for t in backbone.outputs if id(t) in made_in_upper]
    in_frontier = {id(t) for t in frontier}
    lower = frontier + [
        t for t in backbone.outputs if id(t) not in made_in_upper and id(t) not in in_frontier
    ]
    prefix_layers = {
        id(node.operation): node.operation
        for node in nodes if id(node) not in upper and not node.is_input
    }
    return frontier, lower, upper_outputs, list(prefix_layers.values())


def _dropouts(layers):
    """Every `Dropout` inside `layers` (attention, branch, adapter dropouts)."""
    found = {}
    for layer in layers:
        if isinstance(layer, keras.layers.Layer):
            for sublayer in layer._flatten_layers(include_self=True):
                if isinstance(sublayer, keras.layers.Dropout):
                    found[id(sublayer)] = sublayer
    return list(found.values())


def _task_inputs(model, node):
    """How the task's inputs reach its backbone (`node`) and head.

    Returns:
        `(prefix_inputs, head_features)`: backbone input name -> task input
        name (KerasHub tasks pass their inputs dict as it is), and the task
        inputs the head reads besides the backbone's outputs (e.g. the
        padding mask for mean pooling).
    """
    task_nodes = graph_nodes(model)
    task_upper, task_frontier = cut_graph(task_nodes, {id(node)})
    if not all(is_model_input(t) for t in task_frontier):
        raise KerasAdaptersError(
            f"Cannot split {model.name!r}: it computes something from its inputs before the "
            "backbone; the frozen-prefix cache needs the inputs passed to the backbone as they are."
        )
    call_inputs = node.arguments.args[0] if node.arguments.args else None
    if not isinstance(call_inputs, dict) or not isinstance(model.backbone.input, dict):
        raise KerasAdaptersError(f"Cannot split {model.name!r}: its backbone must take a dict.")
    task_input_name = {id(t): name for name, t in model.input.items()}
    prefix_inputs = {name: task_input_name[id(t)] for name, t in call_inputs.items()}
    head_reads = {
        id(t) for n in task_nodes if id(n) in task_upper and n is not node for t in n.input_tensors
    }
    head_features = [task_input_name[id(t)] for t in task_frontier if id(t) in head_reads]
    return prefix_inputs, head_features


def split_frozen_prefix(model, block=None, check_dropout=True):
    """Cuts a task model below its lowest trainable transformer block.

    Args:
        model: a functional task model with a `backbone` attribute and a dict
            of inputs (`PooledTextClassifier`, `BertTextClassifier`, ...).
        block: the first block of the suffix; None: the lowest block holding
            trainable weights (`lowest_trainable_block`).
        check_dropout: refuse a prefix that still has dropout (the cached
            states would differ from what training without the cache sees).

    Returns:
        A `FrozenPrefixSplit`.

    Raises:
        KerasAdaptersError: when there is nothing to cache (block 0 or the
            embeddings train), when a layer below `block` trains, when the
            prefix has dropout (see `disable_prefix_dropout`), for a
            `Parallel` adapter setup (it repeats the batch before the
            embeddings), or for a model that cannot be cut.

    Example:

    >>> import keras, keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.training import disable_prefix_dropout, split_frozen_prefix
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=3, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8), "pfeiffer", layers="top:1")
    >>> model = PooledTextClassifier(backbone, num_classes=2)
    >>> _ = disable_prefix_dropout(model)
    >>> split = split_frozen_prefix(model)
    >>> split.block, split.cached_names, split.feature_names
    (2, ('frozen_prefix_0',), ('padding_mask',))
    >>> x = {"token_ids": np.ones((2, 8), "int32"), "segment_ids": np.zeros((2, 8), "int32"),
    ...      "padding_mask": np.ones((2, 8), "int32")}
    >>> x = {name: keras.ops.convert_to_tensor(value) for name, value in x.items()}
    >>> cached = split.prefix(split.prefix_features(x))  # the states entering block 2
    >>> logits = split.suffix({**cached, "padding_mask": x["padding_mask"]})
    >>> bool(np.allclose(logits, model(x), atol=1e-6))
    True
    """
    node = _backbone_node(model)
    backbone = model.backbone
    if isinstance(getattr(backbone, "active_adapters", None), Parallel):
        raise KerasAdaptersError(
            "The frozen-prefix cache cannot train a Parallel adapter setup (it repeats the "
            "batch before the embeddings); activate one adapter or a Stack."
        )
    block = _resolve_block(backbone, block)
    frontier, lower, upper_outputs, prefix_layers = _backbone_split(backbone, block)
    if check_dropout:
        rates = sorted({d.rate for d in _dropouts(prefix_layers) if d.rate > 0})
        if rates:
            raise KerasAdaptersError(
                f"The frozen prefix (embeddings and blocks below {block}) still has dropout "
                f"(rates {rates}), so its output is not a function of the input: call "
                "keras_adapters.training.disable_prefix_dropout(model) first."
            )

    prefix_inputs, head_features = _task_inputs(model, node)
    backbone_input_name = {id(t): name for name, t in backbone.input.items()}
    names, computed = {}, []
    for tensor in lower:
        if is_model_input(tensor):
            names[id(tensor)] = prefix_inputs[backbone_input_name[id(tensor)]]
        else:
            names[id(tensor)] = f"frozen_prefix_{len(computed)}"
            computed.append(tensor)
    feature_names = sorted({names[id(t)] for t in lower if is_model_input(t)} | set(head_features))
    cached_specs = {names[id(t)]: (tuple(t.shape[1:]), t.dtype) for t in computed}

    try:
        prefix = keras.Model(
            backbone.input, {names[id(t)]: t for t in computed}, name="frozen_prefix"
        )
        head_inputs = list(node.outputs) + [model.input[f] for f in head_features]
        head = keras.Model(head_inputs, model.output)
        specs = dict(cached_specs)
        for feature in feature_names:
            specs[feature] = (tuple(model.input[feature].shape[1:]), model.input[feature].dtype)
        inputs = {n: keras.Input(shape=s, dtype=d, name=n) for n, (s, d) in specs.items()}
        values = {id(t): inputs[names[id(t)]] for t in lower}
        if upper_outputs:
            # Keras builds a model from intermediate tensors by cloning their nodes.
            made = keras.Model(frontier, upper_outputs)([values[id(t)] for t in frontier])
            values.update(zip([id(t) for t in upper_outputs], keras.tree.flatten(made)))
        outputs = head(
            [values[id(t)] for t in backbone.outputs] + [inputs[f] for f in head_features]
        )
        suffix = keras.Model(inputs, outputs, name="trainable_suffix")
    except ValueError as error:
        raise KerasAdaptersError(
            f"Cannot split {model.name!r} below block {block}: {error}"
        ) from None
    if {id(v) for v in suffix.trainable_variables} != {id(v) for v in model.trainable_variables}:
        raise KerasAdaptersError(
            f"Cannot split {model.name!r} below block {block}: some trainable weights lie outside "
            "the part above it."
        )
    return FrozenPrefixSplit(
        backbone, block, prefix, suffix, cached_specs, feature_names, prefix_inputs, prefix_layers
    )


def disable_prefix_dropout(model, block=None):
    """Turns off dropout in the frozen layers below the lowest trainable block.

    Frozen layers still apply dropout while training, so without this their
    output changes from step to step. With it, the embeddings and the blocks
    below `block` compute the same function in training and inference: what
    the frozen-prefix cache (`cache_frozen_prefix`) requires, and a valid
    setting without the cache too (those layers learn nothing from it). The
    blocks from `block` on, their adapters and the head keep their dropout.

    The rates are set to 0 on the layer objects and take effect in the next
    `fit`, `evaluate` or `predict` (traced functions are refreshed). Like
    trainable flags, this is not saved: a model loaded from a file has its
    dropout back.

    Args:
        model: a task model with a `backbone` (or a backbone).
        block: the first block keeping dropout; None: the lowest block
            holding trainable weights.

    Returns:
        The number of `Dropout` layers turned off (0 if already off).

    Raises:
        KerasAdaptersError: when the embeddings or block 0 train (there is no
            frozen prefix), or a layer below `block` trains.

    Example:

    >>> import keras_hub
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.training import disable_prefix_dropout
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=3, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8), "pfeiffer", layers="top:1")
    >>> disable_prefix_dropout(backbone)  # embeddings + 2 blocks x 3 dropouts
    7
    >>> [slot.branch_dropout.rate for slot in backbone.transformer_blocks[2]._flatten_layers()
    ...  if hasattr(slot, "branch_dropout")]  # block 2 keeps its dropout
    [0.1, 0.1]
    """
    backbone = getattr(model, "backbone", model)
    block = _resolve_block(backbone, block)
    _, _, _, prefix_layers = _backbone_split(backbone, block)
    changed = [dropout for dropout in _dropouts(prefix_layers) if dropout.rate > 0]
    for dropout in changed:
        dropout.rate = 0.0
    traced = {id(m): m for m in (model, backbone)}
    for _, _, slot in getattr(backbone, "adapter_slots", list)():
        traced.update({id(m): m for m in slot.traced_by})
    refresh_compiled_functions(traced.values())
    return len(changed)
