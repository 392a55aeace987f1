"""What keras-adapters knows about KerasHub's transformer blocks.

This is the one module that relies on KerasHub internals: the attribute names
under which `TransformerEncoder` and `TransformerDecoder` keep their branch
dropouts. Each branch computes `x = dropout(sublayer(x)); x = x + residual`,
so swapping the dropout for an `AdapterSlot` (dropout, then adapters) puts
adapters at Houlsby's position in pre-LN and post-LN blocks alike, without
copying or patching KerasHub code. If a KerasHub release renames these
attributes, `install_slots` fails loudly instead of training a model that
silently has no adapters.

Decoder blocks built with an encoder sequence (BART's decoder) have a third
branch, cross-attention, with the same layout; it gets a slot too, so an
adapter can sit after the cross-attention sublayer (AdapterHub's
`cross_adapter` option; off in the presets). Blocks without cross-attention
(encoders, GPT-2's decoder) have no such slot.
"""

import keras
import keras_hub

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_slot import AdapterSlot, unlocked_state

TRANSFORMER_BLOCK_TYPES = (
    keras_hub.layers.TransformerEncoder,
    keras_hub.layers.TransformerDecoder,
)

#: Placement name -> attribute holding that branch's dropout in a block.
BRANCH_DROPOUT_ATTRIBUTES = {
    "attention": "_self_attention_dropout",
    "feedforward": "_feedforward_dropout",
    # Last, so that blocks keep their earlier slot order; only in blocks
    # with cross-attention (see `block_branches`).
    "cross_attention": "_cross_attention_dropout",
}


def block_branches(block):
    """Placement -> dropout attribute for the branches this block has.

    Every block has self-attention and feed-forward branches; a
    `TransformerDecoder` built with an encoder sequence also has
    cross-attention (KerasHub sets `_cross_attention_layer` to None otherwise).
    """
    branches = dict(BRANCH_DROPOUT_ATTRIBUTES)
    if getattr(block, "_cross_attention_layer", None) is None:
        del branches["cross_attention"]
    return branches


def block_hidden_dim(block):
    """Width of a block's input and output (its model dimension)."""
    dense = getattr(block, "_feedforward_output_dense", None)
    if dense is None:
        raise _internals_changed(block, "_feedforward_output_dense")
    return dense.units


def _internals_changed(block, attribute):
    return RuntimeError(
        f"{type(block).__name__} {block.name!r} has no `{attribute}`: this "
        f"keras-hub ({keras_hub.__version__}) lays out transformer blocks "
        "differently from the versions keras-adapters supports (0.32). Please "
        "report this with your keras-hub version."
    )


def install_slots(block):
    """Replaces each branch dropout of a built block with an `AdapterSlot`.

    Idempotent. Returns a dict placement -> slot.
    """
    if not block.built:
        raise KerasAdaptersError(f"Transformer block {block.name!r} must be built first.")
    hidden_dim = block_hidden_dim(block)
    slots = {}
    for placement, attribute in block_branches(block).items():
        current = getattr(block, attribute, None)
        if current is None:
            raise _internals_changed(block, attribute)
        if isinstance(current, AdapterSlot):
            slots[placement] = current
            continue
        if not isinstance(current, keras.layers.Dropout):
            raise _internals_changed(block, f"{attribute} (a Dropout)")
        slot = AdapterSlot(
            dropout_rate=current.rate,
            dtype=block.dtype_policy,
            name=f"{placement}_adapters",
        )
        # Build inside the block's name scope so variable paths read
        # "<block path>/<placement>_adapters/<adapter>/...".
        with keras.name_scope(block.name, caller=block):
            slot.build((None, None, hidden_dim))
        with unlocked_state(block):
            block._tracker.untrack(current)
            setattr(block, attribute, slot)
        slots[placement] = slot
    return slots


def block_slots(block):
    """Dict placement -> `AdapterSlot` of a block with installed slots."""
    return {
        placement: getattr(block, attribute)
        for placement, attribute in block_branches(block).items()
    }
