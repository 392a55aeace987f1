"""Adding, removing, averaging and activating adapters of an adapted backbone."""

from keras_adapters.adapter_kinds import uses_bottleneck
from keras_adapters.composition import (
    Parallel,
    check_composition,
    fusion_name,
    fusions_in,
    is_finite_number,
    parse_setup,
    setup_names,
)
from keras_adapters.config import AdapterConfig
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_layer import AdapterLayer
from keras_adapters.surgery.adapter_checks import check_bottleneck, validate_adapter_name
from keras_adapters.surgery.blocks import block_hidden_dim
from keras_adapters.surgery.projections import insert_projection_adapter, prune_projection_slots


class AdapterManagement:
    """Mixin of `AdaptedBackbone`: `add_adapter`, `delete_adapter`,
    `average_adapter` and `set_active_adapters`.

    Bottleneck adapters go into the blocks' branch slots; LoRA, (IA)^3 and
    parallel adapters into projection slots (`surgery/projections.py`).
    """

    def add_adapter(self, name, config="houlsby", **overrides):
        """Adds a new adapter in place (inactive, frozen until trained).

        Unlike `keras_adapters.add_adapters`, which clones, this changes this
        backbone: use it to keep many task adapters on one backbone.

        Args:
            name: the new adapter's name.
            config: `AdapterConfig`, preset name, dict, JSON file or saved
                adapter directory.
            **overrides: `AdapterConfig` fields to change.

        Raises:
            KerasAdaptersError: for a name in use, an invalid config, or a
                bottleneck wider than `MAX_BOTTLENECK_PER_HIDDEN` x the
                hidden size.
        """
        self._insert_adapter(name, AdapterConfig.get(config, **overrides))
        self._apply_trainable_state()

    def delete_adapter(self, name):
        """Removes an adapter (not allowed while active, trained or fused).

        Raises:
            KerasAdaptersError: for an unknown name, or an adapter that is
                active, trainable or part of a fusion.
        """
        self._check_names([name])
        self._refuse_while_merged("delete_adapter")
        if name in setup_names(self._active_setup) or name in self._trainable_adapters:
            raise KerasAdaptersError(
                f"Adapter {name!r} is active or trainable; change the active setup "
                "(set_active_adapters) and trainable adapters first."
            )
        fused = [fusion_name(key) for key in self._fusion_names if name in key]
        if fused:
            raise KerasAdaptersError(f"Adapter {name!r} is part of fusion(s) {fused}; delete those first.")
        for _, _, slot in self.adapter_slots():
            if name in slot.adapters:
                slot.remove(name)
        for block in self.transformer_blocks:
            prune_projection_slots(block)
        del self._adapter_configs[name]
        self._refresh_compiled_functions()

    def average_adapter(self, name, sources, weights=None):
        """Adds adapter `name` whose weights are a weighted average of others'.

        Unlike the `Average` composition (which averages outputs at run
        time), this merges parameters into one ordinary adapter: no extra
        cost per call. The sources must have the same shape (bottleneck,
        placements, activation, and the same blocks: `layers` is compared as
        resolved on this backbone, so `"top:2"` and `[2, 3]` match on four
        blocks).

        Args:
            name: the new adapter's name.
            sources: names of existing adapters.
            weights: one float per source, summing to 1 (default: equal).

        Raises:
            KerasAdaptersError: for unknown names, bad weights, or sources
                of different shapes.
        """
        sources = self._as_names(sources)
        self._check_names(sources)
        if len(sources) < 2:
            raise KerasAdaptersError("average_adapter needs two or more source adapters.")
        if weights is None:
            weights = [1.0 / len(sources)] * len(sources)
        if not isinstance(weights, (list, tuple)) or not all(is_finite_number(w) for w in weights):
            raise KerasAdaptersError(
                f"average_adapter weights must be a list of finite numbers; got {weights!r}."
            )
        weights = [float(w) for w in weights]
        if len(weights) != len(sources) or abs(sum(weights) - 1.0) > 1e-6:
            raise KerasAdaptersError(f"Give one weight per source adapter, summing to 1; got {weights}.")
        shape_fields = ("kind", "placements", "activation", "scaling")
        first = self._adapter_configs[sources[0]]
        if not uses_bottleneck(first.kind):
            raise KerasAdaptersError(
                f"average_adapter averages bottleneck weights; {sources[0]!r} is a {first.kind} "
                "adapter (averaged LoRA factors are not the average update). Use the Average "
                "composition, which averages outputs."
            )
        widths = {
            source: {(i, p): layer.bottleneck_size for i, p, layer in self.adapter_layers(source)}
            for source in sources
        }
        for source in sources[1:]:
            config = self._adapter_configs[source]
            differing = [f for f in shape_fields if getattr(config, f) != getattr(first, f)]
            # The blocks selected, not the selections as written: "top:2" and
            # [2, 3] are the same adapters on a 4-block backbone.
            num_blocks = len(self.transformer_blocks)
            if config.resolve_layers(num_blocks) != first.resolve_layers(num_blocks):
                differing.append("layers")
            if differing or widths[source] != widths[sources[0]]:
                raise KerasAdaptersError(
                    f"Cannot average {sources[0]!r} and {source!r}: they differ in "
                    f"{differing or ['bottleneck width']} "
                    f"({ {s: sorted(set(widths[s].values())) for s in (sources[0], source)} } "
                    "bottleneck widths); averaged adapters need the same shape."
                )
        self._insert_adapter(name, first)
        merged = self.adapter_weights(name)
        for index, variable in enumerate(merged):
            variable.assign(sum(w * self.adapter_weights(s)[index] for w, s in zip(weights, sources)))
        self._apply_trainable_state()

    def set_active_adapters(self, setup):
        """Sets the adapters (or composition) the forward pass applies.

        Takes effect at once, in direct calls and in the next `predict`,
        `evaluate`, `fit`, `generate` or export of this backbone and of every
        model around it: their traced functions are retraced (see the class
        docstring). No recompiling is needed.

        Args:
            setup: a name, a list of names (stacked in order), a block from
                `keras_adapters.composition`, or `None` (no adapter: the
                original backbone's outputs exactly).

        Raises:
            KerasAdaptersError: for an unknown name, a `Fuse` without fusion
                layers, or a `Parallel` nested inside another block.
        """
        setup = parse_setup(setup)
        self._refuse_while_merged("set_active_adapters")
        self._check_names(setup_names(setup), allow_repeats=True)
        check_composition(setup, self._adapter_kinds())
        for fuse in fusions_in(setup):
            if fuse.key not in self._fusion_names:
                raise KerasAdaptersError(
                    f"No fusion layers for {fuse!r}; create them with "
                    f"backbone.add_fusion({fuse!r}) first."
                )
        if not isinstance(setup, Parallel) and _contains(setup, Parallel):
            raise KerasAdaptersError("Parallel is only allowed as the whole active setup, not nested.")
        for _, _, slot in self.adapter_slots():
            slot.active_setup = setup
        self._active_setup = setup
        self._refresh_compiled_functions()

    def _insert_adapter(self, name, config):
        validate_adapter_name(name)
        self._refuse_while_merged("add_adapter")
        if name in self._adapter_configs:
            raise KerasAdaptersError(f"This backbone already has an adapter named {name!r}.")
        if "embedding" in config.placements and not self.embedding_dropout_attributes:
            raise KerasAdaptersError(
                f"{self.keras_hub_class.__name__} has no embedding dropout to host an "
                "embedding adapter (it embeds without one), so placement 'embedding' is "
                "not available on it; use 'attention' and/or 'feedforward'."
            )
        if config.kind != "bottleneck":
            blocks = self.transformer_blocks
            check_bottleneck(name, config, block_hidden_dim(blocks[0]))
            insert_projection_adapter(blocks, name, config)
            self._adapter_configs[name] = config
            return
        indices = set(config.resolve_layers(len(self.transformer_blocks)))
        slots = [
            slot
            for index, placement, slot in self.adapter_slots()
            if placement in config.placements and (placement == "embedding" or index in indices)
        ]
        if not slots:
            raise KerasAdaptersError(
                f"{self.keras_hub_class.__name__} has no adapter position for placement(s) "
                f"{list(config.placements)} in the selected blocks {sorted(indices)}: "
                "'cross_attention' exists only in decoder blocks with cross-attention "
                "(BART's decoder); 'attention' and 'feedforward' exist in every block."
            )
        # Checked for every slot before any is given an adapter (and before
        # any weight is allocated).
        for slot in slots:
            check_bottleneck(name, config, slot._hidden_shape[-1])
        for slot in slots:
            slot.add_adapter(
                name,
                AdapterLayer(
                    bottleneck_size=config.resolve_bottleneck(slot._hidden_shape[-1]),
                    activation=config.activation,
                    initialization=config.initialization,
                    init_scale=config.init_scale,
                    dropout=config.dropout,
                    scaling=config.scaling,
                    dtype=slot.dtype_policy,
                    name=name,
                ),
            )
        self._adapter_configs[name] = config


def _contains(setup, block_type):
    if setup is None or isinstance(setup, str):
        return False
    return any(isinstance(c, block_type) or _contains(c, block_type) for c in setup.children)
