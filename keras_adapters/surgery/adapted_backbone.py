"""`AdaptedBackbone`: the mixin that gives a KerasHub backbone adapters."""

import re

import keras
from keras import ops

from keras_adapters.adapter_kinds import uses_bottleneck
from keras_adapters.composition import (
    Fuse,
    Parallel,
    check_composition,
    fusion_key,
    fusion_name,
    fusions_in,
    is_finite_number,
    parse_setup,
    setup_block,
    setup_config,
    setup_names,
)
from keras_adapters.config import AdapterConfig
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_fusion import AdapterFusion
from keras_adapters.layers.adapter_layer import AdapterLayer
from keras_adapters.layers.adapter_slot import AdapterSlot
from keras_adapters.layers.projection_slot import ProjectionSlot
from keras_adapters.surgery.blocks import block_hidden_dim, block_slots, install_slots
from keras_adapters.surgery.compiled_functions import refresh_compiled_functions
from keras_adapters.surgery.layer_count import adaptable_blocks, layers_below_blocks
from keras_adapters.surgery.merging import AdapterMerging
from keras_adapters.surgery.projections import (
    insert_projection_adapter,
    projection_slots,
    prune_projection_slots,
)

_ADAPTER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")

#: The widest bottleneck allowed, in multiples of the hidden size. An adapter
#: is meant to be narrower than the model; 4x is the feed-forward expansion
#: of BERT/GPT-2 blocks, so an adapter never outgrows the sublayer it adapts,
#: and a typo (`--bottleneck 100000`) is refused instead of allocating until
#: memory runs out.
MAX_BOTTLENECK_PER_HIDDEN = 4


def validate_adapter_name(name):
    """Checks an adapter name: 1-64 characters, a letter first.

    Args:
        name: the proposed name.

    Raises:
        KerasAdaptersError: for anything else (names become file and
            variable path parts, so no spaces, slashes or newlines).
    """
    if not isinstance(name, str) or not _ADAPTER_NAME.fullmatch(name):
        raise KerasAdaptersError(
            f"Invalid adapter name {name!r}: use 1-64 characters, starting with a "
            "letter, then letters, digits, '_', '-' or '.'."
        )


def check_bottleneck(name, config, hidden_dim):
    """Refuses a bottleneck wider than `MAX_BOTTLENECK_PER_HIDDEN` x hidden size.

    Args:
        name: the adapter's name, for the message.
        config: its `AdapterConfig`.
        hidden_dim: the width of the branches it adapts.

    Raises:
        KerasAdaptersError: if the resolved bottleneck is too wide.
    """
    if not uses_bottleneck(config.kind):
        return  # LoRA, (IA)^3: no bottleneck
    bottleneck = config.resolve_bottleneck(hidden_dim)
    limit = MAX_BOTTLENECK_PER_HIDDEN * hidden_dim
    if bottleneck > limit:
        raise KerasAdaptersError(
            f"Adapter {name!r}: bottleneck {bottleneck} is too wide for this backbone, whose "
            f"hidden size is {hidden_dim}; the bottleneck may be at most {limit} "
            f"({MAX_BOTTLENECK_PER_HIDDEN} x the hidden size)."
        )


class AdaptedBackbone(AdapterMerging):
    """Mixin for a KerasHub backbone whose transformer blocks carry adapters.

    Concrete classes (`AdaptedBertBackbone`, `AdaptedGPT2Backbone`, ...) derive
    from this mixin and from the KerasHub backbone class, so an adapted
    backbone is still a `BertBackbone` (or `GPT2Backbone`, ...) and works with
    every KerasHub task of its family. Build one with
    `keras_adapters.add_adapters`, then manage its adapters in place:
    `add_adapter`, `delete_adapter`, `set_active_adapters` (a name, a list,
    or a composition block: `Stack`, `Average`, `Fuse`, `BatchSplit`,
    `Parallel`), `train_adapter`, `add_fusion`, `train_fusion`.

    The constructor takes the KerasHub backbone's own arguments plus the
    adapter state, which `get_config` records. That is what makes `.keras`
    files and `save_to_preset` restore the adapters and the active setup,
    and what re-applies the frozen/trainable state after every load (Keras
    does not save `trainable` flags).

    Every verb that changes what runs (`set_active_adapters`,
    `train_adapter`, `set_trainable_adapters`, `add_adapter`,
    `delete_adapter`, `average_adapter`, `add_fusion`, `train_fusion`) takes
    effect in the next `predict`, `evaluate`, `fit`, `generate` or export of
    this backbone and of any model containing it, with no recompiling. The
    setup is Python state read while a function is traced, so each adapter
    slot notes, at trace time, the Keras models whose methods run the trace
    (the owners of Keras' `predict_function`/`test_function`/
    `train_function` and KerasHub's `generate_function`); each verb then
    replaces those models' traced functions with stand-ins that retrace on
    their next call. Only training needs the user: when the trainable
    weights changed after a model's optimizer was built (its first `fit` or
    `evaluate`), its next `fit` raises `KerasAdaptersError` asking for
    `model.compile(...)` again instead of training stale weights. A
    `tf.function` of your own around the backbone is not a Keras model's:
    trace it again after a verb.

    Args:
        adapters: dict of adapter name -> `AdapterConfig` (or its dict).
        active_adapters: the active setup (default: all adapters, stacked).
        trainable_adapters: names whose weights train (default: the active
            ones). Every other backbone weight is frozen, except layer
            norms when a trainable adapter's config says
            `train_layer_norms=True`: all of them with `layers=None`, else
            only those of its selected blocks (see `AdapterConfig`).
        fusions: list of lists of adapter names with AdapterFusion layers.
        trainable_fusions: the fusions whose weights train: lists of
            adapter names (or, as written before, strings "a+b").
        *args, **kwargs: the KerasHub backbone's arguments.

    Example:

    >>> import keras_hub
    >>> from keras_adapters import AdaptedBackbone, add_adapters
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), "pfeiffer", name="a")
    >>> isinstance(backbone, AdaptedBackbone), type(backbone).__name__
    (True, 'AdaptedBertBackbone')
    >>> backbone.add_adapter("b", "pfeiffer")
    >>> backbone.set_active_adapters(["a", "b"])  # a list is a stack
    >>> backbone.adapter_names
    ('a', 'b')
    """

    # Attributes of the KerasHub class listing its transformer blocks, in
    # the order that adapter layer indices follow. Set by each subclass.
    transformer_block_attributes = ("transformer_layers",)
    # Embedding dropout attribute -> the block list its output feeds. Each
    # becomes an `AdapterSlot` (see `surgery/embeddings.py`).
    embedding_dropout_attributes = {}
    # The KerasHub backbone class this adapted class derives from.
    keras_hub_class = None

    def __init__(
        self,
        *args,
        adapters=None,
        active_adapters=None,
        trainable_adapters=None,
        fusions=None,
        trainable_fusions=None,
        merged_adapter=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self._adapter_configs = {}
        self._fusion_names = []
        self._active_setup = None
        self._trainable_adapters = []
        self._trainable_fusions = []
        for block in self.transformer_blocks:
            install_slots(block)
        for name, config in (adapters or {}).items():
            self._insert_adapter(name, AdapterConfig.get(config))
        for names in fusions or []:
            self.add_fusion(Fuse(*fusion_key(names)))
        if active_adapters is None:
            active_adapters = list(self._adapter_configs)
        self.set_active_adapters(active_adapters)
        if trainable_adapters is None:
            trainable_adapters = setup_names(active_adapters)
        self._set_trainable(trainable_adapters, [fusion_key(f) for f in trainable_fusions or []])
        if merged_adapter is not None:
            # Weights loaded afterwards (a `.keras` file) overwrite the copies.
            self.merge_adapter(merged_adapter)

    # -- introspection ------------------------------------------------------

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

    @property
    def fusions(self):
        """The fusions with AdapterFusion layers: tuples of adapter names."""
        return tuple(self._fusion_names)

    @property
    def fusion_names(self):
        """The fusions' string forms ("a+b"), for display (see `fusions`)."""
        return tuple(fusion_name(key) for key in self._fusion_names)

    def get_adapter_config(self, name):
        """The `AdapterConfig` of adapter `name`."""
        self._check_names([name])
        return self._adapter_configs[name]

    def adapter_layers(self, name):
        """List of `(block_index, placement, AdapterLayer)` for one adapter."""
        self._check_names([name])
        return self._slot_items(lambda slot: slot.adapters, name)

    def fusion_layers(self, fusion):
        """List of `(block_index, placement, AdapterFusion)` for one fusion.

        Args:
            fusion: `Fuse(...)`, a tuple of adapter names, or "a+b".

        Raises:
            KerasAdaptersError: for a fusion this backbone does not have.
        """
        key = fusion_key(fusion)
        if key not in self._fusion_names:
            raise KerasAdaptersError(
                f"Unknown fusion {fusion_name(key)!r}; this backbone has {list(self.fusion_names)}."
            )
        return self._slot_items(lambda slot: slot.fusions, key)

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

    # -- managing adapters in place -----------------------------------------

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
        placements, layers, activation).

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
        shape_fields = ("kind", "placements", "layers", "activation", "scaling")
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

    def train_adapter(self, names):
        """Trains the named adapter(s) only: everything else is frozen.

        The adapters are activated too, unless the active setup already uses
        them (e.g. training a task adapter stacked on a language adapter).
        A model that was already trained or evaluated must be compiled again
        (`model.compile(...)`) before its next `fit`, which otherwise raises
        `KerasAdaptersError`: its optimizer was built for the old weights.

        Raises:
            KerasAdaptersError: for an unknown or repeated name.
        """
        names = self._as_names(names)
        self._check_names(names)
        self._refuse_while_merged("train_adapter")
        if not set(names) <= set(setup_names(self._active_setup)):
            self.set_active_adapters(names)
        self._set_trainable(names, [])

    def set_trainable_adapters(self, names):
        """Freezes every weight except the named adapters (and layer norms).

        As with `train_adapter`, a model already trained or evaluated needs
        `model.compile(...)` again before its next `fit`.

        Args:
            names: a name, a list of names, or `None` (all frozen).

        Raises:
            KerasAdaptersError: for an unknown name.
        """
        self._refuse_while_merged("set_trainable_adapters")
        self._set_trainable(names, [])

    def add_fusion(self, fuse):
        """Creates AdapterFusion layers for `Fuse(...)` in every block.

        Args:
            fuse: a `Fuse` block (or its config dict).

        Raises:
            KerasAdaptersError: if an adapter is unknown, or the adapters do
                not sit in the same blocks and branches (nothing to fuse there).
        """
        fuse = parse_setup(fuse)
        if not isinstance(fuse, Fuse):
            raise KerasAdaptersError(f"add_fusion takes a Fuse(...) block; got {fuse!r}.")
        self._check_names(fuse.children)
        self._refuse_while_merged("add_fusion")
        check_composition(fuse, self._adapter_kinds())
        if fuse.key in self._fusion_names:
            raise KerasAdaptersError(f"Fusion {fuse.name!r} already exists.")
        placements = {
            name: {(i, p) for i, p, _ in self.adapter_layers(name)} for name in fuse.children
        }
        positions = set.intersection(*placements.values())
        if any(p != positions for p in placements.values()):
            raise KerasAdaptersError(
                f"Cannot fuse {fuse.children}: they sit in different blocks or branches "
                f"({ {n: sorted(p) for n, p in placements.items()} }); fused adapters need "
                "the same layers and placements."
            )
        for index, placement, slot in self.adapter_slots():
            if (index, placement) in positions:
                # The layer name ("a_b") is part of weight paths; it is a
                # label only, the slot keys the layer by `fuse.key`.
                slot.add_fusion(fuse.key, AdapterFusion(dtype=slot.dtype_policy, name="_".join(fuse.key)))
        self._fusion_names.append(fuse.key)
        self._apply_trainable_state()

    def train_fusion(self, fuse):
        """Activates `Fuse(...)` and trains only its fusion layers.

        Args:
            fuse: a `Fuse` block (or its config dict) added with `add_fusion`.

        Raises:
            KerasAdaptersError: for anything else, or a fusion not added.
        """
        fuse = parse_setup(fuse)
        if not isinstance(fuse, Fuse):
            raise KerasAdaptersError(f"train_fusion takes a Fuse(...) block; got {fuse!r}.")
        self.set_active_adapters(fuse)
        self._set_trainable([], [fuse.key])

    def _set_trainable(self, adapter_names, fusion_names):
        adapter_names = self._as_names(adapter_names)
        self._check_names(adapter_names)
        unknown = [f for f in fusion_names if f not in self._fusion_names]
        if unknown:
            raise KerasAdaptersError(
                f"Unknown fusion(s) {unknown}; this backbone has {list(self._fusion_names)}."
            )
        self._trainable_adapters = list(adapter_names)
        self._trainable_fusions = list(fusion_names)
        self._apply_trainable_state()

    def _refresh_compiled_functions(self):
        traced_by = set()
        for _, _, slot in self.adapter_slots():
            traced_by.update(slot.traced_by)
        refresh_compiled_functions(traced_by)

    def _trained_layer_norms(self):
        """Ids of the layer norms that train (see `AdapterConfig.train_layer_norms`).

        The union over the trainable adapters whose config trains layer
        norms: all of them for `layers=None` (Houlsby's setting, and the
        behaviour before `layers` limited it); otherwise the norms inside
        the selected blocks, the layer norm after the last block (GPT-2's
        and OPT's final `layer_norm`) when the last block is selected, and
        the embedding layer norm only with an `"embedding"` placement. So
        nothing below the lowest selected block trains, and gradients stop
        there.
        """
        configs = [
            self._adapter_configs[name]
            for name in self._trainable_adapters
            if self._adapter_configs[name].train_layer_norms
        ]
        if not configs:
            return set()
        if any(config.layers is None for config in configs):
            return {id(layer) for layer in self.layer_norm_layers()}
        blocks = self.transformer_blocks
        selected, embedding = set(), False
        for config in configs:
            selected.update(config.resolve_layers(len(blocks)))
            embedding = embedding or "embedding" in config.placements
        trained = {
            id(child)
            for index in selected
            for child in blocks[index]._flatten_layers(include_self=False, recursive=False)
            if isinstance(child, keras.layers.LayerNormalization)
        }
        block_ids = {id(block) for block in blocks}
        below = {id(layer) for layer in layers_below_blocks(self)}
        for layer in self._flatten_layers(include_self=False, recursive=False):
            if not isinstance(layer, keras.layers.LayerNormalization) or id(layer) in block_ids:
                continue
            if (embedding if id(layer) in below else len(blocks) - 1 in selected):
                trained.add(id(layer))
        return trained

    def _apply_trainable_state(self):
        trainable = set(self._trainable_adapters) | set(self._trainable_fusions)
        trained_norms = self._trained_layer_norms()
        blocks = {id(block) for block in self.transformer_blocks}

        def apply(layer):
            if isinstance(layer, ProjectionSlot):
                layer.set_trainable_adapters(trainable)
            elif any(isinstance(child, ProjectionSlot) for child in layer._flatten_layers(include_self=False)):
                # An attention layer holding projection slots stays trainable so
                # that their adapters can be; its sublayers are set one by one.
                layer.trainable = True
                for child in layer._flatten_layers(include_self=False, recursive=False):
                    apply(child)
            elif isinstance(layer, AdapterSlot):
                # A slot stays trainable so that its adapters can be.
                layer.trainable = True
                layer.branch_dropout.trainable = False
                for name, sublayer in list(layer.adapters.items()) + list(layer.fusions.items()):
                    sublayer.trainable = name in trainable
            elif isinstance(layer, keras.layers.LayerNormalization):
                layer.trainable = id(layer) in trained_norms
            else:
                layer.trainable = False

        for layer in self._flatten_layers(include_self=False, recursive=False):
            if id(layer) not in blocks:
                apply(layer)
                continue
            # A block stays trainable so that its adapters can be; each of its
            # sublayers is then set on its own.
            layer.trainable = True
            for child in layer._flatten_layers(include_self=False, recursive=False):
                apply(child)
        self._refresh_compiled_functions()

    def _adapter_kinds(self):
        return {name: config.kind for name, config in self._adapter_configs.items()}

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

    # -- forward pass and serialization -------------------------------------

    def call(self, inputs, training=None, mask=None, **kwargs):
        setup = self._active_setup
        if isinstance(setup, Parallel):
            # Every example goes through every adapter: repeat the batch; the
            # slots send row block i to adapter i.
            copies = len(setup.children)
            inputs = keras.tree.map_structure(
                lambda x: ops.concatenate([x] * copies, axis=0), inputs
            )
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "adapters": {
                    name: adapter_config.to_dict()
                    for name, adapter_config in self._adapter_configs.items()
                },
                "active_adapters": setup_config(self._active_setup),
                "trainable_adapters": list(self._trainable_adapters),
                "fusions": [list(key) for key in self._fusion_names],
                "trainable_fusions": [list(key) for key in self._trainable_fusions],
            }
        )
        if self._merged_adapter is not None:
            # Only when merged: other configs stay as they were written before.
            config["merged_adapter"] = self._merged_adapter
        return config


def _contains(setup, block_type):
    if setup is None or isinstance(setup, str):
        return False
    return any(isinstance(c, block_type) or _contains(c, block_type) for c in setup.children)
