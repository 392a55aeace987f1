"""Adapters on the embedding output: the embedding dropout becomes a slot.

KerasHub backbones embed tokens inside their functional graph, and GPT-2's
`call_with_cache` (what `generate` runs) calls the same embedding layers
directly: `x = backbone.embeddings_dropout(x)`, then the first transformer
block. That dropout is the one object both paths share, so the adapted
class turns its attribute into a property: when the KerasHub constructor
assigns its `Dropout`, the property stores an `AdapterSlot` (the same
dropout, then the active adapters) in its place, and every later use, in
the graph or in generation, goes through the slot. Nothing in KerasHub is
patched; the attribute names are the KerasHub internals relied on, listed
per backbone in `surgery/backbones.py`.
"""

import keras

from keras_adapters.layers.adapter_slot import AdapterSlot


def slot_name(dropout_attribute):
    """Layer name of the slot replacing a backbone's embedding dropout."""
    return dropout_attribute.replace("embeddings_dropout", "embedding_adapters")


def embedding_slot_property(dropout_attribute):
    """A property that swaps the `Dropout` assigned to it for an `AdapterSlot`."""
    storage = f"_{slot_name(dropout_attribute)}"

    def get(self):
        return getattr(self, storage)

    def set(self, dropout):
        if isinstance(dropout, AdapterSlot):
            slot = dropout
        elif isinstance(dropout, keras.layers.Dropout):
            # Keras tracked the Dropout before this setter ran; keep only the
            # slot (which holds its own dropout of the same rate). On the
            # torch backend the KerasHub constructor assigns it before Keras'
            # tracker exists, so there is nothing to untrack.
            tracker = getattr(self, "_tracker", None)
            if tracker is not None:
                tracker.untrack(dropout)
            slot = AdapterSlot(
                dropout_rate=dropout.rate,
                dtype=dropout.dtype_policy,
                name=slot_name(dropout_attribute),
            )
        else:
            raise RuntimeError(
                f"{type(self).__name__}.{dropout_attribute} is a "
                f"{type(dropout).__name__}, not a Dropout: this keras-hub lays out "
                "its embeddings differently from the versions keras-adapters "
                "supports (0.32). Please report this with your keras-hub version."
            )
        setattr(self, storage, slot)

    return property(
        get,
        set,
        doc=(
            f"The embedding output's `AdapterSlot` (KerasHub's `{dropout_attribute}`, "
            "followed by the active embedding adapters)."
        ),
    )
