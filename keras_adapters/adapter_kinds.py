"""Adapter kinds (methods): what each one adapts and which config fields it uses.

- `"bottleneck"`: the sequential bottleneck adapter of Houlsby et al. 2019
  on a sublayer's output (`placements`), the default.
- `"parallel"`: a bottleneck branch that reads the sublayer's *input* and is
  added to its output, times `scaling` (He et al. 2022, "Towards a Unified
  View of Parameter-Efficient Transfer Learning"; their scaled parallel
  adapter uses s=4 on the feed-forward sublayer).
- `"lora"`: low-rank updates `x A B * alpha / rank` of projection kernels
  (`targets`, default query and value), B initialised to zero (Hu et al.
  2021), in the factor layout of Keras' `enable_lora`.
- `"ia3"`: learned rescaling vectors, initialised to ones, on the keys,
  the values and the feed-forward intermediate activation (Liu et al.
  2022).

LoRA and (IA)^3 are linear in the projection they adapt, so they can be
folded into its weights for serving (`merge_adapter`).

Example:

>>> from keras_adapters.adapter_kinds import KINDS, kind_fields
>>> KINDS
('bottleneck', 'parallel', 'lora', 'ia3')
>>> kind_fields("lora")
('rank', 'alpha', 'targets', 'dropout')
"""

from keras_adapters.errors import KerasAdaptersError

KINDS = ("bottleneck", "parallel", "lora", "ia3")

#: Kinds that are linear in the adapted projection: mergeable into its weights.
LINEAR_KINDS = ("lora", "ia3")

#: Projections of a transformer block, and the sublayer each belongs to.
PROJECTION_SUBLAYERS = {
    "query": "attention",
    "key": "attention",
    "value": "attention",
    "attention_output": "attention",
    "ffn_intermediate": "feedforward",
    "ffn_output": "feedforward",
}

#: What `targets` may name, per kind. For (IA)^3, "ffn_intermediate" is the
#: intermediate *activation* (the input of the feed-forward output projection).
ALLOWED_TARGETS = {
    "lora": tuple(PROJECTION_SUBLAYERS),
    "ia3": ("key", "value", "ffn_intermediate"),
}
DEFAULT_TARGETS = {"lora": ("query", "value"), "ia3": ("key", "value", "ffn_intermediate")}
DEFAULT_LORA_RANK = 8

_BOTTLENECK_FIELDS = (
    "bottleneck_size", "reduction_factor", "activation", "placements",
    "initialization", "init_scale", "dropout", "scaling",
)
# Fields each kind uses besides `kind`, `layers` and `train_layer_norms`.
_KIND_FIELDS = {
    "bottleneck": _BOTTLENECK_FIELDS,
    "parallel": _BOTTLENECK_FIELDS,
    "lora": ("rank", "alpha", "targets", "dropout"),
    "ia3": ("targets",),
}
# Fields a bottleneck-free kind stores as None (its config has no bottleneck).
_CLEARED_FOR_PROJECTION_KINDS = ("bottleneck_size", "reduction_factor")


def kind_fields(kind):
    """The `AdapterConfig` fields a kind uses (besides kind, layers, train_layer_norms)."""
    return _KIND_FIELDS[kind]


def uses_bottleneck(kind):
    """Whether adapters of `kind` have a bottleneck width."""
    return "bottleneck_size" in _KIND_FIELDS[kind]


def _refuse(field, value, kind):
    raise KerasAdaptersError(
        f"Invalid AdapterConfig field `{field}`: got {value!r}, but it does not apply to "
        f"kind {kind!r}, which uses {', '.join(_KIND_FIELDS[kind])} (plus layers and "
        "train_layer_norms)."
    )


def targets_sublayers(targets):
    """The sublayers ("attention", "feedforward") that `targets` touch, in that order."""
    touched = {PROJECTION_SUBLAYERS[target] for target in targets}
    return tuple(sublayer for sublayer in ("attention", "feedforward") if sublayer in touched)


def normalize_kind_fields(values, defaults):
    """Checks and completes the kind-specific fields of a config.

    Fields a kind does not use must keep their default (or, for a
    bottleneck width, be None): a value there would be silently ignored.
    LoRA gets `rank` 8 and the default targets when unset; LoRA and (IA)^3
    store `placements` as the sublayers their targets touch.

    Args:
        values: dict of the config's field values (placements a tuple).
        defaults: dict of the dataclass defaults.

    Returns:
        A dict of fields to change.

    Raises:
        KerasAdaptersError: for an unknown kind, bad targets or rank, or a
            field set that the kind does not use.
    """
    kind = values["kind"]
    if kind not in KINDS:
        raise KerasAdaptersError(
            f"Invalid AdapterConfig field `kind`: got {kind!r}. Allowed: {', '.join(KINDS)}."
        )
    used = _KIND_FIELDS[kind]
    changes = {}
    for field in ("rank", "alpha", "targets", *_BOTTLENECK_FIELDS):
        if field in used:
            continue
        value = values[field]
        if field in _CLEARED_FOR_PROJECTION_KINDS:
            if value not in (None, defaults[field]):
                _refuse(field, value, kind)
            changes[field] = None
        elif field == "placements":
            continue  # derived below
        elif value != defaults[field]:
            _refuse(field, value, kind)
    if kind in ALLOWED_TARGETS:
        targets = values["targets"]
        targets = DEFAULT_TARGETS[kind] if targets is None else targets
        if isinstance(targets, str):
            targets = (targets,)
        targets = tuple(targets)
        allowed = ALLOWED_TARGETS[kind]
        if not targets or any(t not in allowed for t in targets) or len(set(targets)) != len(targets):
            raise KerasAdaptersError(
                f"Invalid AdapterConfig field `targets`: got {list(targets)!r}. Allowed for "
                f"kind {kind!r}: a non-empty subset of {', '.join(allowed)}, each at most once."
            )
        changes["targets"] = targets
        derived = targets_sublayers(targets)
        if values["placements"] not in (tuple(defaults["placements"]), derived):
            _refuse("placements", values["placements"], kind)
        changes["placements"] = derived
    if kind == "parallel" and set(values["placements"]) - {"attention", "feedforward"}:
        raise KerasAdaptersError(
            "Invalid AdapterConfig field `placements`: a parallel adapter adapts a sublayer "
            "(it reads the sublayer's input); allowed: attention, feedforward."
        )
    if kind == "lora":
        rank = DEFAULT_LORA_RANK if values["rank"] is None else values["rank"]
        if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
            raise KerasAdaptersError(
                f"Invalid AdapterConfig field `rank`: got {rank!r}. Allowed: a positive int."
            )
        changes["rank"] = rank
        alpha = values["alpha"]
        if alpha is not None and (
            isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0
            or alpha != alpha or alpha == float("inf")
        ):
            raise KerasAdaptersError(
                f"Invalid AdapterConfig field `alpha`: got {alpha!r}. Allowed: a finite "
                "positive number, or None (alpha = rank: scale 1, as Keras' enable_lora)."
            )
    return changes
