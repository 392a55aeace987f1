"""Reading an adapted backbone's adapter state: names, setup, slots, layers."""

import keras

from keras_adapters.composition import setup_block
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery.blocks import block_slots
from keras_adapters.surgery.layer_count import adaptable_blocks
from keras_adapters.surgery.projections import projection_slots


class AdapterInspection:
    """Mixin of `AdaptedBackbone`: what adapters it has and where they sit.

    Reads the state the other mixins keep (`_adapter_configs`,
    `_active_setup`, `_trainable_adapters`) and the class attributes of the
    concrete adapted class (`transformer_block_attributes`,
    `embedding_dropout_attributes`); changes nothing.
    """

    @property
    def transformer_blocks(self):
        """All transformer blocks, in adapter layer-index order."""
        return adaptable_blocks(self)

    @property
    def adapter_names(self):
        """Names of every adapter in the backbone, in insertion order."""
        return tuple(self._adapter_configs)

    @property
    def active_adapters(self):
        """The active setup, always as a composition block (as in adapter-hub).

        A name or a list of names set with `set_active_adapters` reads back
        as a `Stack`, which compares equal to the tuple of its names and
        iterates over them; other blocks read back as set.

        Returns:
            An `AdapterSetup` from `keras_adapters.composition`, e.g.
            `Stack('lang', 'task')` (`== ("lang", "task")`) or
            `Fuse('a', 'b')`; None when no adapter is active.
        """
        return setup_block(self._active_setup)

    @property
    def trainable_adapters(self):
        """Names of the adapters whose weights train."""
        return tuple(self._trainable_adapters)

    def get_adapter_config(self, name):
        """The `AdapterConfig` of adapter `name`."""
        self._check_names([name])
        return self._adapter_configs[name]

    def adapter_layers(self, name):
        """List of `(block_index, placement, AdapterLayer)` for one adapter."""
        self._check_names([name])
        return self._slot_items(lambda slot: slot.adapters, name)

    def adapter_slots(self):
        """Every `AdapterSlot`, as `(block_index, placement, slot)`.

        An embedding slot has placement `"embedding"` and the index of the
        first block its output feeds (0, or the first decoder block).
        """
        slots = []
        first_index, offset = {}, 0
        for attribute in self.transformer_block_attributes:
            first_index[attribute] = offset
            offset += len(getattr(self, attribute))
        for dropout_attribute, blocks_attribute in self.embedding_dropout_attributes.items():
            slots.append((first_index[blocks_attribute], "embedding", getattr(self, dropout_attribute)))
        for index, block in enumerate(self.transformer_blocks):
            for placement, slot in block_slots(block).items():
                slots.append((index, placement, slot))
            # LoRA, (IA)^3 and parallel adapters: placement = the projection.
            for projection, slot in projection_slots(block).items():
                slots.append((index, projection, slot))
        return slots

    def _slot_items(self, store, name):
        return [
            (index, placement, store(slot)[name])
            for index, placement, slot in self.adapter_slots()
            if name in store(slot)
        ]

    def adapter_weights(self, name):
        """The weights of adapter `name` (not the layer norms)."""
        return [w for _, _, layer in self.adapter_layers(name) for w in layer.weights]

    def layer_norm_layers(self):
        """Every layer norm of the backbone (all train with Houlsby adapters in every block)."""
        return [
            layer
            for layer in self._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.LayerNormalization)
        ]

    def _adapter_kinds(self):
        return {name: config.kind for name, config in self._adapter_configs.items()}

    def _as_names(self, names):
        if names is None:
            return []
        if isinstance(names, str):
            return [names]
        return list(names)

    def _check_names(self, names, allow_repeats=False):
        unknown = [n for n in names if n not in self._adapter_configs]
        if unknown:
            raise KerasAdaptersError(
                f"Unknown adapter name(s) {unknown}. This backbone has: "
                f"{list(self._adapter_configs) or 'no adapters'}."
            )
        if not allow_repeats and len(set(names)) != len(names):
            raise KerasAdaptersError(f"Adapter names repeat in {names}.")
