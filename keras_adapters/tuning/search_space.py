"""The search space of an `AdapterHyperModel`: the choices, declared as
keras-tuner hyperparameters, and each trial's `AdapterConfig`.

The method is a search dimension (`adapter_presets`, the hyperparameter
`adapter`); the settings that belong to one method are declared in a
keras-tuner conditional scope on it: `bottleneck_size` for the bottleneck
and parallel presets, `rank` for the LoRA ones. So a trial records only the
settings its method uses, and a tuner does not try one LoRA setting again
for every bottleneck size.
"""

from keras_adapters.adapter_kinds import uses_bottleneck
from keras_adapters.config import AdapterConfig, layers_label, parse_layers, resolve_layer_selection
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery.adapter_checks import MAX_BOTTLENECK_PER_HIDDEN
from keras_adapters.surgery.layer_count import num_adaptable_blocks


def _is_lora(kind):
    return kind == "lora"


class AdapterSearchSpace:
    """Mixin of `AdapterHyperModel`: its choices and each trial's adapter config.

    `_set_search_space` checks and keeps the choices; `adapter_config` and
    `trial_learning_rate` declare them on a trial's `HyperParameters` and
    return the trial's values. Reads `self.backbone` (for layer counts).
    """

    def _set_search_space(self, *, bottleneck_sizes, adapter, adapter_presets, ranks, layers,
                          learning_rates, learning_rate):
        self.bottleneck_sizes = self._check_positive_list(
            "bottleneck_sizes", bottleneck_sizes, integer=True
        )
        self.learning_rates = (
            None
            if learning_rates is None
            else self._check_positive_list("learning_rates", learning_rates, integer=False)
        )
        if not learning_rate > 0:
            raise KerasAdaptersError(f"`learning_rate` must be positive; got {learning_rate!r}.")
        self.learning_rate = learning_rate
        self.adapter = AdapterConfig.get(adapter)
        self.adapter_presets = None
        if adapter_presets is not None:
            presets = list(adapter_presets)
            for preset in presets:
                AdapterConfig.from_preset(preset)  # raises for unknown names
            if not presets or len(set(presets)) != len(presets):
                raise KerasAdaptersError(f"`adapter_presets` must be distinct preset names; got {presets}.")
            self.adapter_presets = presets
        self.ranks = None
        if ranks is not None:
            self.ranks = self._check_positive_list("ranks", ranks, integer=True)
            methods = self.adapter_presets or [adapter]
            if not self._methods_where(_is_lora):
                raise KerasAdaptersError(
                    f"`ranks` are LoRA ranks, but no adapter searched is LoRA ({methods}); "
                    "add 'lora' to `adapter_presets`."
                )
        # Text labels ("all", "top:3", "3,4,5") as hyperparameter values.
        self.layers = None if layers is None else [layers_label(spec) for spec in layers]
        if self.layers is not None and (not self.layers or len(set(self.layers)) != len(self.layers)):
            raise KerasAdaptersError(f"`layers` must be distinct, non-empty selections; got {self.layers}.")

    @staticmethod
    def _check_positive_list(name, values, integer):
        values = list(values)
        ok = bool(values) and len(set(values)) == len(values)
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
                ok = False
            elif not value > 0:
                ok = False
        if not ok:
            kind = "positive integers" if integer else "positive numbers"
            raise KerasAdaptersError(f"`{name}` must be a non-empty list of distinct {kind}; got {values!r}.")
        return values

    @staticmethod
    def values_key(values):
        """Hashable key of a trial's hyperparameter values (keras-tuner's own
        `tuner/...` entries left out)."""
        return tuple(sorted((k, v) for k, v in values.items() if not k.startswith("tuner/")))


    def _check_bottleneck_sizes(self, backbone):
        # Checked once, up front: a too-wide size would fail every trial drawing it.
        limit = MAX_BOTTLENECK_PER_HIDDEN * backbone.hidden_dim
        too_wide = [size for size in self.bottleneck_sizes if size > limit]
        if too_wide:
            raise KerasAdaptersError(
                f"`bottleneck_sizes` {too_wide} are wider than this backbone allows: at most "
                f"{limit} ({MAX_BOTTLENECK_PER_HIDDEN} x its hidden size {backbone.hidden_dim})."
            )
        return backbone


    def _methods_where(self, applies):
        """The searched presets (or the one `adapter`) whose kind `applies`."""
        if self.adapter_presets is None:
            return [self.adapter] if applies(self.adapter.kind) else []
        return [
            preset for preset in self.adapter_presets
            if applies(AdapterConfig.from_preset(preset).kind)
        ]

    def _method_choice(self, hp, name, values, applies):
        """`hp.Choice(name, values)` for the methods whose kind `applies`.

        Declared in a conditional scope on `adapter` when presets are
        searched; None for a trial of another method (or when no method
        searched uses it).
        """
        methods = self._methods_where(applies)
        if not methods:
            return None
        if self.adapter_presets is None:
            return hp.Choice(name, values)
        with hp.conditional_scope("adapter", methods):
            return hp.Choice(name, values)

    def adapter_config(self, hp):
        """The `AdapterConfig` of a trial (declares its hyperparameters).

        `adapter` (the method, when `adapter_presets` are searched) is
        declared first, then `bottleneck_size` for the presets with a
        bottleneck and `rank` (when `ranks` are searched) for the LoRA
        ones, each conditioned on `adapter`.
        """
        config = self.adapter
        if self.adapter_presets is not None:
            config = AdapterConfig.from_preset(hp.Choice("adapter", self.adapter_presets))
        overrides = {}
        # LoRA and (IA)^3 have no bottleneck: a trial of theirs has no
        # `bottleneck_size` (None here).
        bottleneck = self._method_choice(hp, "bottleneck_size", self.bottleneck_sizes, uses_bottleneck)
        if bottleneck is not None:
            overrides["bottleneck_size"] = bottleneck
        if self.ranks is not None:
            rank = self._method_choice(hp, "rank", self.ranks, _is_lora)
            if rank is not None:
                overrides["rank"] = rank
        if self.layers is not None:
            # Resolved here, so a trial's config records the blocks it trained
            # and a "top:K" too deep for the backbone fails before building.
            selection = parse_layers(hp.Choice("layers", self.layers))
            overrides["layers"] = (
                None
                if selection is None
                else resolve_layer_selection(selection, num_adaptable_blocks(self.backbone))
            )
        return config.replace(**overrides)

    def trial_learning_rate(self, hp):
        """The peak learning rate of a trial (declares it when tuned)."""
        if self.learning_rates is None:
            return self.learning_rate
        return hp.Choice("learning_rate", self.learning_rates)
