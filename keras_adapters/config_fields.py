"""The values each `AdapterConfig` field allows, and the check of a config against them.

Kind-specific fields (`kind`, `rank`, `alpha`, `targets`) are checked in
`keras_adapters.adapter_kinds`, `layers` in `keras_adapters.layer_selection`.
"""

import math

from keras_adapters.adapter_kinds import uses_bottleneck
from keras_adapters.errors import KerasAdaptersError

__all__ = ["ACTIVATIONS", "BLOCK_PLACEMENTS", "INITIALIZATIONS", "PLACEMENTS"]

#: Where an adapter can sit inside a transformer block. All are on the
#: sublayer branch, after the branch dropout and before the residual add.
#: "cross_attention" exists only in decoder blocks with cross-attention
#: (BART's decoder; AdapterHub's `cross_adapter`), and is off in the presets.
BLOCK_PLACEMENTS = ("attention", "feedforward", "cross_attention")

#: Every placement: the block ones, plus "embedding": one adapter on the
#: embedding output (after the embedding dropout, before the first block),
#: which adjusts the embedded vectors. It ignores `layers`.
PLACEMENTS = BLOCK_PLACEMENTS + ("embedding",)

#: Non-linearities between the down- and up-projection.
ACTIVATIONS = ("relu", "gelu", "gelu_approximate", "silu", "swish", "tanh", "linear")

#: Near-identity initialisations of the adapter's projections.
#: - "houlsby": both projections truncated normal (std `init_scale`), zero
#:   biases, as in Houlsby et al.'s reference code: close to identity.
#: - "zero_up": Glorot down-projection, all-zero up-projection: the adapter is
#:   exactly the identity at the start, so the adapted model's outputs equal
#:   the pretrained model's bit for bit.
INITIALIZATIONS = ("houlsby", "zero_up")


def raise_field_error(field, value, allowed):
    """Raises the `KerasAdaptersError` for a field value outside what it allows."""
    raise KerasAdaptersError(
        f"Invalid AdapterConfig field `{field}`: got {value!r}. Allowed: {allowed}."
    )


def is_finite_number(value):
    """True for an int or float (not a bool) that is neither NaN nor infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # math.isfinite cannot convert a huge int to float; every int is finite.
    return isinstance(value, int) or math.isfinite(value)


def check_fields(config):
    """Raises `KerasAdaptersError` for a field outside what it allows.

    The kind-specific fields were checked and completed before
    (`keras_adapters.adapter_kinds.normalize_kind_fields`), `layers` by
    `parse_layers`.

    Args:
        config: an `AdapterConfig`.

    Raises:
        KerasAdaptersError: naming the field, the value and what is allowed.
    """
    has_size = config.bottleneck_size is not None
    has_factor = config.reduction_factor is not None
    if not uses_bottleneck(config.kind):
        has_size = has_factor = False  # cleared by `normalize_kind_fields`
    elif has_size == has_factor:
        raise KerasAdaptersError(
            "Invalid AdapterConfig: set exactly one of `bottleneck_size` "
            f"and `reduction_factor` (got bottleneck_size="
            f"{config.bottleneck_size!r}, reduction_factor="
            f"{config.reduction_factor!r})."
        )
    if has_size and (
        isinstance(config.bottleneck_size, bool)
        or not isinstance(config.bottleneck_size, int)
        or config.bottleneck_size <= 0
    ):
        raise_field_error("bottleneck_size", config.bottleneck_size, "a positive int")
    if has_factor and (
        not is_finite_number(config.reduction_factor) or not config.reduction_factor > 0
    ):
        raise_field_error("reduction_factor", config.reduction_factor, "a finite positive number")
    if config.activation not in ACTIVATIONS:
        raise_field_error("activation", config.activation, ", ".join(ACTIVATIONS))
    if not config.placements:
        raise_field_error("placements", config.placements, f"a non-empty subset of {PLACEMENTS}")
    for placement in config.placements:
        if placement not in PLACEMENTS:
            raise_field_error("placements", placement, ", ".join(PLACEMENTS))
    if len(set(config.placements)) != len(config.placements):
        raise_field_error("placements", config.placements, "each placement at most once")
    if config.initialization not in INITIALIZATIONS:
        raise_field_error("initialization", config.initialization, ", ".join(INITIALIZATIONS))
    # Float fields must be finite: a NaN or infinite value (JSON files may
    # hold `NaN` or `Infinity`) would train to NaN weights without an error.
    if not is_finite_number(config.init_scale) or not config.init_scale > 0:
        raise_field_error("init_scale", config.init_scale, "a finite positive number")
    if not is_finite_number(config.dropout) or not 0 <= config.dropout < 1:
        raise_field_error("dropout", config.dropout, "a number in [0, 1)")
    if not is_finite_number(config.scaling):
        raise_field_error("scaling", config.scaling, "a finite number (not NaN or infinity)")
    # `layers` was checked by `parse_layers` in `AdapterConfig.__post_init__`.
    if not isinstance(config.train_layer_norms, bool):
        raise_field_error("train_layer_norms", config.train_layer_norms, "True or False")
