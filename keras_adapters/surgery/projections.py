"""Where LoRA, (IA)^3 and parallel adapters go in KerasHub's transformer blocks.

The projection counterpart of `blocks.py` (which relies on the same
KerasHub internals): the attribute names under which `TransformerEncoder`
and `TransformerDecoder` keep their projections. A `ProjectionSlot` takes a
projection's place only while some adapter needs it, so the layout (and
the `.keras` file paths) of backbones without these adapters is unchanged;
it takes the projection's position in its owner's layer list, so the order
of `backbone.weights` is unchanged too (cloning and fingerprints rely on it).

What each kind needs in a block:
- `lora`: a slot on each target projection.
- `ia3`: key and value slots (scaling their outputs), and for
  `"ffn_intermediate"` the feed-forward output slot (scaling its input, the
  intermediate activation: the same product, and mergeable there).
- `parallel`: the sublayer's last projection hosts the adapter (attention
  output, feed-forward output: the adapter's output is added to the
  sublayer's output) and its first projection (query, feed-forward
  intermediate) records the sublayer's input for it (`SublayerInput`).
"""

import keras
import keras_hub

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_slot import unlocked_state
from keras_adapters.layers.ia3 import IA3Adapter
from keras_adapters.layers.lora import LoraAdapter
from keras_adapters.layers.parallel_adapter import ParallelAdapter
from keras_adapters.layers.projection_slot import ProjectionSlot, SublayerInput
from keras_adapters.surgery.blocks import block_hidden_dim

#: Projection -> attribute path from the block to it.
PROJECTION_ATTRIBUTES = {
    "query": ("_self_attention_layer", "_query_dense"),
    "key": ("_self_attention_layer", "_key_dense"),
    "value": ("_self_attention_layer", "_value_dense"),
    "attention_output": ("_self_attention_layer", "_output_dense"),
    "ffn_intermediate": ("_feedforward_intermediate_dense",),
    "ffn_output": ("_feedforward_output_dense",),
}

#: Sublayer -> (its first projection, its last projection).
SUBLAYER_ENDS = {"attention": ("query", "attention_output"), "feedforward": ("ffn_intermediate", "ffn_output")}


def _owner(block, projection):
    *path, attribute = PROJECTION_ATTRIBUTES[projection]
    owner = block
    for name in path:
        owner = getattr(owner, name, None)
        if owner is None:
            raise _internals_changed(block, name)
    return owner, attribute


def _internals_changed(block, attribute):
    return RuntimeError(
        f"{type(block).__name__} {block.name!r} has no `{attribute}` projection: this keras-hub "
        f"({keras_hub.__version__}) lays out transformer blocks differently from the versions "
        "keras-adapters supports (0.32). Please report this with your keras-hub version."
    )


def projection_slots(block):
    """Dict projection name -> installed `ProjectionSlot` of one block."""
    slots = {}
    for projection in PROJECTION_ATTRIBUTES:
        owner, attribute = _owner(block, projection)
        current = getattr(owner, attribute, None)
        if isinstance(current, ProjectionSlot):
            slots[projection] = current
    return slots


def _replace(owner, attribute, old, new):
    """Puts `new` in `old`'s place, keeping its position among the owner's layers."""
    with unlocked_state(owner):
        owner._tracker.replace_tracked_value("layers", old, new)
        setattr(owner, attribute, new)


def _install(block, projection):
    owner, attribute = _owner(block, projection)
    current = getattr(owner, attribute, None)
    if isinstance(current, ProjectionSlot):
        return current
    if not isinstance(current, (keras.layers.Dense, keras.layers.EinsumDense)) or not current.built:
        raise _internals_changed(block, attribute)
    slot = ProjectionSlot(current, dtype=current.dtype_policy, name=f"{projection}_adapters")
    _replace(owner, attribute, current, slot)
    return slot


def _link(block):
    """Connects each sublayer's first and last slot (see `SublayerInput`)."""
    slots = projection_slots(block)
    for first, last in SUBLAYER_ENDS.values():
        handoff = SublayerInput() if first in slots and last in slots else None
        if first in slots:
            slots[first].records_input = handoff
        if last in slots:
            slots[last].reads_input = handoff


def _needs_input(slot):
    return any(getattr(a, "reads_sublayer_input", False) for a in slot.adapters.values())


def prune_projection_slots(block):
    """Gives back the projections whose slots no adapter needs any more."""
    slots = projection_slots(block)
    needed = {name for name, slot in slots.items() if slot.adapters}
    for first, last in SUBLAYER_ENDS.values():
        if last in slots and _needs_input(slots[last]):
            needed.add(first)
    for name, slot in slots.items():
        if name not in needed:
            owner, attribute = _owner(block, name)
            _replace(owner, attribute, slot, slot.projection)
    _link(block)


def _output_axes(projection):
    """Shape of the trailing kernel axes that are output axes (what (IA)^3 scales)."""
    kernel_shape = tuple(projection.kernel.shape)
    if isinstance(projection, keras.layers.Dense):
        return kernel_shape[-1:]
    inputs, output = projection.equation.split("->")
    kernel_spec = inputs.split(",")[1]
    kept = [index for index, char in enumerate(kernel_spec) if char in output]
    if kept != list(range(len(kernel_spec) - len(kept), len(kernel_spec))):
        raise KerasAdaptersError(
            f"(IA)^3 cannot adapt projection {projection.name!r} (equation {projection.equation!r}): "
            "its output axes are not the kernel's trailing axes."
        )
    return kernel_shape[len(kernel_spec) - len(kept):]


def _adapter_placements(config):
    """[(host projection, factory(slot, hidden, **layer_args) -> adapter)] for a config."""
    if config.kind == "lora":
        def lora(slot, hidden, **layer_args):
            projection = slot.projection
            return LoraAdapter(
                kernel_shape=tuple(projection.kernel.shape), rank=config.rank, alpha=config.alpha,
                dropout=config.dropout, equation=getattr(projection, "equation", None), **layer_args,
            )
        return [(target, lora) for target in config.targets]
    if config.kind == "ia3":
        placements = []
        for target in config.targets:
            if target == "ffn_intermediate":
                placements.append(
                    ("ffn_output", lambda slot, hidden, **layer_args: IA3Adapter(
                        vector_shape=tuple(slot.projection.kernel.shape[:1]), side="input", **layer_args))
                )
            else:
                placements.append(
                    (target, lambda slot, hidden, **layer_args: IA3Adapter(
                        vector_shape=_output_axes(slot.projection), **layer_args))
                )
        return placements

    def parallel(slot, hidden, **layer_args):
        return ParallelAdapter(
            bottleneck_size=config.resolve_bottleneck(hidden), activation=config.activation,
            initialization=config.initialization, init_scale=config.init_scale,
            dropout=config.dropout, scaling=config.scaling, **layer_args,
        )
    return [(SUBLAYER_ENDS[placement][1], parallel) for placement in config.placements]


def insert_projection_adapter(blocks, name, config):
    """Adds LoRA, (IA)^3 or parallel adapter `name` to the selected blocks.

    Args:
        blocks: the backbone's transformer blocks, in layer-index order.
        name: the adapter's name (checked by the caller).
        config: its `AdapterConfig` (kind "lora", "ia3" or "parallel").
    """
    placements = _adapter_placements(config)
    for index in config.resolve_layers(len(blocks)):
        block = blocks[index]
        hidden = block_hidden_dim(block)
        for projection, make in placements:
            slot = _install(block, projection)
            adapter = make(slot, hidden, name=name, dtype=slot.dtype_policy)
            with keras.name_scope(block.name, caller=block):
                slot.add_adapter(name, adapter)
            if config.kind == "parallel":
                sublayer = next(s for s, ends in SUBLAYER_ENDS.items() if ends[1] == projection)
                _install(block, SUBLAYER_ENDS[sublayer][0])
        _link(block)
