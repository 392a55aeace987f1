"""AdapterFusion on an adapted backbone: creating, training and finding fusion layers."""

from keras_adapters.composition import Fuse, check_composition, fusion_key, fusion_name, parse_setup
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_fusion import AdapterFusion


class AdapterFusions:
    """Mixin of `AdaptedBackbone`: `add_fusion`, `train_fusion` and the fusions it has.

    A fusion (Pfeiffer et al. 2021) is keyed by the tuple of the adapter
    names it fuses (`Fuse("a", "b").key`); its layers sit in every slot that
    holds all of those adapters.
    """

    @property
    def fusions(self):
        """The fusions with AdapterFusion layers: tuples of adapter names."""
        return tuple(self._fusion_names)

    @property
    def fusion_names(self):
        """The fusions' string forms ("a+b"), for display (see `fusions`)."""
        return tuple(fusion_name(key) for key in self._fusion_names)

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
