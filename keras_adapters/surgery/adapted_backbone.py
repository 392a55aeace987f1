"""`AdaptedBackbone`: the mixin that gives a KerasHub backbone adapters."""

import re

import keras

from keras_adapters.config import AdapterConfig
from keras_adapters.layers.adapter_layer import AdapterLayer
from keras_adapters.layers.adapter_slot import AdapterSlot
from keras_adapters.surgery.blocks import block_slots, install_slots

_ADAPTER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def validate_adapter_name(name):
    if not isinstance(name, str) or not _ADAPTER_NAME.match(name):
        raise ValueError(
            f"Invalid adapter name {name!r}: use 1-64 characters, starting with a "
            "letter, then letters, digits, '_', '-' or '.'."
        )


class AdaptedBackbone:
    """Mixin for a KerasHub backbone whose transformer blocks carry adapters.

    Concrete classes (`AdaptedBertBackbone`, `AdaptedGPT2Backbone`, ...) derive
    from this mixin and from the KerasHub backbone class, so an adapted
    backbone is still a `BertBackbone` (or `GPT2Backbone`, ...) and works with
    every KerasHub task of its family. Build one with
    `keras_adapters.add_adapters`, not directly.

    The constructor takes the KerasHub backbone's own arguments plus the
    adapter state, which `get_config` records. That is what makes `.keras`
    files and `save_to_preset` restore the adapters, and what re-applies the
    frozen/trainable state after every load (Keras does not save
    `trainable` flags).

    Args:
        adapters: dict of adapter name -> `AdapterConfig` (or its dict).
        active_adapters: names applied in the forward pass, in order
            (default: all).
        trainable_adapters: names whose weights train (default: the active
            ones). Every other backbone weight is frozen, except the layer
            norms when a trainable adapter's config says
            `train_layer_norms=True`.
        *args, **kwargs: the KerasHub backbone's arguments.
    """

    # Attributes of the KerasHub class listing its transformer blocks, in
    # the order that adapter layer indices follow. Set by each subclass.
    transformer_block_attributes = ("transformer_layers",)
    # The KerasHub backbone class this adapted class derives from.
    keras_hub_class = None

    def __init__(
        self,
        *args,
        adapters=None,
        active_adapters=None,
        trainable_adapters=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self._adapter_configs = {}
        for block in self.transformer_blocks:
            install_slots(block)
        for name, config in (adapters or {}).items():
            self._insert_adapter(name, AdapterConfig.get(config))
        if active_adapters is None:
            active_adapters = list(self._adapter_configs)
        if trainable_adapters is None:
            trainable_adapters = list(active_adapters)
        self.set_active_adapters(active_adapters)
        self.set_trainable_adapters(trainable_adapters)

    # -- introspection ------------------------------------------------------

    @property
    def transformer_blocks(self):
        """All transformer blocks, in adapter layer-index order."""
        blocks = []
        for attribute in self.transformer_block_attributes:
            blocks.extend(getattr(self, attribute))
        return blocks

    @property
    def adapter_names(self):
        """Names of every adapter in the backbone, in insertion order."""
        return tuple(self._adapter_configs)

    @property
    def active_adapters(self):
        """Names of the adapters applied in the forward pass, in order."""
        return tuple(self._active_adapters)

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
        found = []
        for index, block in enumerate(self.transformer_blocks):
            for placement, slot in block_slots(block).items():
                if name in slot.adapters:
                    found.append((index, placement, slot.adapters[name]))
        return found

    def adapter_weights(self, name):
        """The weights of adapter `name` (not the layer norms)."""
        return [w for _, _, layer in self.adapter_layers(name) for w in layer.weights]

    def layer_norm_layers(self):
        """Every layer norm of the backbone (trained with Houlsby adapters)."""
        return [
            layer
            for layer in self._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.LayerNormalization)
        ]

    # -- state changes ------------------------------------------------------

    def set_active_adapters(self, names):
        """Sets which adapters the forward pass applies, in order.

        Takes effect for functions traced afterwards: a compiled
        `generate`/`predict` function keeps the adapters it was traced with
        (reset it with `model.generate_function = None` or recompile).

        Args:
            names: a name, a list of names (applied in order) or `None`
                (no adapter: the original backbone's outputs exactly).

        Raises:
            ValueError: for an unknown name.
        """
        names = self._as_names(names)
        self._check_names(names)
        for block in self.transformer_blocks:
            for slot in block_slots(block).values():
                slot.active_adapters = [n for n in names if n in slot.adapters]
        self._active_adapters = list(names)

    def set_trainable_adapters(self, names):
        """Freezes every weight except the named adapters (and layer norms).

        Args:
            names: a name, a list of names, or `None` (all frozen).

        Raises:
            ValueError: for an unknown name.
        """
        names = self._as_names(names)
        self._check_names(names)
        self._trainable_adapters = list(names)
        self._apply_trainable_state()

    def _apply_trainable_state(self):
        trainable = set(self._trainable_adapters)
        train_norms = any(
            self._adapter_configs[n].train_layer_norms for n in trainable
        )
        blocks = {id(block) for block in self.transformer_blocks}
        for layer in self._flatten_layers(include_self=False, recursive=False):
            if id(layer) not in blocks:
                layer.trainable = train_norms and isinstance(
                    layer, keras.layers.LayerNormalization
                )
                continue
            # A block stays trainable so that its adapters can be; each of its
            # sublayers is then set on its own.
            layer.trainable = True
            for child in layer._flatten_layers(include_self=False, recursive=False):
                if isinstance(child, AdapterSlot):
                    child.branch_dropout.trainable = False
                    for name, adapter in child.adapters.items():
                        adapter.trainable = name in trainable
                elif isinstance(child, keras.layers.LayerNormalization):
                    child.trainable = train_norms
                else:
                    child.trainable = False

    def _insert_adapter(self, name, config):
        validate_adapter_name(name)
        if name in self._adapter_configs:
            raise ValueError(f"This backbone already has an adapter named {name!r}.")
        blocks = self.transformer_blocks
        indices = set(config.resolve_layers(len(blocks)))
        for index, block in enumerate(blocks):
            if index not in indices:
                continue
            slots = block_slots(block)
            for placement in config.placements:
                slot = slots[placement]
                hidden_dim = slot._hidden_shape[-1]
                slot.add_adapter(
                    name,
                    AdapterLayer(
                        bottleneck_size=config.resolve_bottleneck(hidden_dim),
                        activation=config.activation,
                        initialization=config.initialization,
                        init_scale=config.init_scale,
                        dropout=config.dropout,
                        scaling=config.scaling,
                        dtype=block.dtype_policy,
                        name=name,
                    ),
                )
        self._adapter_configs[name] = config

    def _as_names(self, names):
        if names is None:
            return []
        if isinstance(names, str):
            return [names]
        return list(names)

    def _check_names(self, names):
        unknown = [n for n in names if n not in self._adapter_configs]
        if unknown:
            raise ValueError(
                f"Unknown adapter name(s) {unknown}. This backbone has: "
                f"{list(self._adapter_configs) or 'no adapters'}."
            )
        if len(set(names)) != len(names):
            raise ValueError(f"Adapter names repeat in {names}.")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "adapters": {
                    name: adapter_config.to_dict()
                    for name, adapter_config in self._adapter_configs.items()
                },
                "active_adapters": list(self._active_adapters),
                "trainable_adapters": list(self._trainable_adapters),
            }
        )
        return config
