"""Merging linear adapters (LoRA, (IA)^3) into the projections for serving."""

import contextlib

from keras_adapters.adapter_kinds import LINEAR_KINDS
from keras_adapters.composition import Stack, setup_names
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.projection_slot import ProjectionSlot


class AdapterMerging:
    """Mixin of `AdaptedBackbone`: `merge_adapter` and `unmerge_adapter`.

    Merging folds a LoRA or (IA)^3 adapter into a *copy* of each projection
    it adapts; the frozen projections stay as they were, so other tasks'
    adapters on the same backbone keep working after `unmerge_adapter`.
    While merged, each adapted projection runs as one plain projection (the
    latency of the base model) and every verb that would change what runs
    is refused until `unmerge_adapter()`. The merged state is saved with
    the model (`get_config`) and restored on load.
    """

    _merged_adapter = None

    @property
    def merged_adapter(self):
        """The name of the merged adapter, or None."""
        return self._merged_adapter

    def merge_adapter(self, name):
        """Folds LoRA or (IA)^3 adapter `name` into copies of its projections.

        The adapter is activated if the active setup does not use it. The
        outputs equal the unmerged model's up to float rounding.

        Args:
            name: the adapter.

        Raises:
            KerasAdaptersError: for an unknown name, an adapter that is not
                LoRA or (IA)^3, an adapter already merged, an active setup
                that routes rows to several adapters (`BatchSplit`,
                `Parallel`, `Average`, `Fuse`: a merged projection would
                serve every row), or another active adapter in the same
                projections.
        """
        self._check_names([name])
        if self._merged_adapter is not None:
            raise KerasAdaptersError(
                f"Adapter {self._merged_adapter!r} is already merged; call unmerge_adapter() first."
            )
        kind = self._adapter_configs[name].kind
        if kind not in LINEAR_KINDS:
            raise KerasAdaptersError(
                f"Cannot merge adapter {name!r}: it is a {kind} adapter, a non-linear branch. "
                f"Only {' and '.join(LINEAR_KINDS)} adapters fold into the projections."
            )
        setup = self._active_setup
        if name not in setup_names(setup):
            self.set_active_adapters(name)
            setup = name
        elif not (isinstance(setup, str) or (
            isinstance(setup, Stack) and all(isinstance(child, str) for child in setup.children)
        )):
            raise KerasAdaptersError(
                f"Cannot merge {name!r} while the active setup is {setup!r}: it routes or mixes "
                "several adapters (tasks) on the shared backbone, and a merged projection would serve "
                f"every row. Activate {name!r} alone (or in a Stack of names), or serve unmerged."
            )
        slots = self._projection_slots_holding(name)
        for slot in slots:
            others = [n for n in setup_names(setup) if n != name and n in slot.adapters]
            if others:
                raise KerasAdaptersError(
                    f"Cannot merge {name!r}: active adapter(s) {others} adapt the same projection "
                    f"({slot.name!r}); merge a setup with one adapter per projection."
                )
        for slot in slots:
            slot.merge(name)
        self._merged_adapter = name
        self._apply_trainable_state()  # freezes the copies, refreshes traced functions

    def unmerge_adapter(self):
        """Drops the merged copies: the adapters run unmerged again (no-op if none is merged)."""
        if self._merged_adapter is None:
            return
        for slot in self._projection_slots_holding(self._merged_adapter):
            slot.unmerge()
        self._merged_adapter = None
        self._refresh_compiled_functions()

    def _projection_slots_holding(self, name):
        return [
            slot for _, _, slot in self.adapter_slots()
            if isinstance(slot, ProjectionSlot) and name in slot.adapters
        ]

    def _refuse_while_merged(self, verb):
        """Raises while an adapter is merged: `verb` would change what runs."""
        if self._merged_adapter is not None:
            raise KerasAdaptersError(
                f"{verb} is not allowed while adapter {self._merged_adapter!r} is merged for "
                "serving; call backbone.unmerge_adapter() first."
            )


@contextlib.contextmanager
def merged_for_serving(backbone):
    """Merges the one active LoRA/(IA)^3 adapter for the duration of the block.

    Args:
        backbone: an `AdaptedBackbone`.

    Yields:
        The merged adapter's name (or the one already merged, left merged).

    Raises:
        KerasAdaptersError: unless exactly one active adapter is linear.
    """
    if backbone.merged_adapter is not None:
        yield backbone.merged_adapter
        return
    names = setup_names(backbone._active_setup)
    linear = [n for n in names if backbone.get_adapter_config(n).kind in LINEAR_KINDS]
    if len(linear) != 1:
        raise KerasAdaptersError(
            f"merge=True needs exactly one active LoRA or (IA)^3 adapter; the active setup "
            f"{backbone.active_adapters!r} has {linear or 'none'}."
        )
    backbone.merge_adapter(linear[0])
    try:
        yield linear[0]
    finally:
        backbone.unmerge_adapter()
