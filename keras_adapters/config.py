"""`AdapterConfig`: one JSON-serializable description of an adapter."""

import dataclasses
import json
import math
import os

#: Where an adapter can sit inside a transformer block. Both are on the
#: sublayer branch, after the branch dropout and before the residual add.
BLOCK_PLACEMENTS = ("attention", "feedforward")

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

# Bumped when a field changes meaning. New fields get defaults that reproduce
# the old behaviour, so files written by older versions keep loading.
FORMAT_VERSION = 1

# Name of the config file in a directory written by `save_adapters`.
SAVED_ADAPTER_CONFIG_FILE = "adapter_config.json"

_PRESETS = {
    # Houlsby et al. 2019: two adapters per block, layer norms trained.
    "houlsby": dict(
        bottleneck_size=64,
        activation="gelu",
        placements=("attention", "feedforward"),
        initialization="houlsby",
        train_layer_norms=True,
    ),
    # Pfeiffer et al. 2021 (AdapterFusion): one adapter after the feed-forward
    # block, base layer norms frozen, bottleneck = hidden size / 16.
    "pfeiffer": dict(
        reduction_factor=16,
        activation="relu",
        placements=("feedforward",),
        initialization="houlsby",
        train_layer_norms=False,
    ),
}


def _fail(field, value, allowed):
    raise ValueError(
        f"Invalid AdapterConfig field `{field}`: got {value!r}. Allowed: {allowed}."
    )


@dataclasses.dataclass(frozen=True)
class AdapterConfig:
    """Describes a bottleneck adapter and where it goes in a backbone.

    Exactly one of `bottleneck_size` and `reduction_factor` is set; with a
    reduction factor the bottleneck is `hidden_dim // reduction_factor`
    (at least 1), resolved when the adapter is inserted into a backbone.

    Args:
        bottleneck_size: int. Width of the bottleneck (Houlsby's `m`).
        reduction_factor: float. Alternative to `bottleneck_size`.
        activation: str. Non-linearity, one of `ACTIVATIONS`.
        placements: tuple of str. Subset of `("attention", "feedforward",
            "embedding")`: after the self-attention sublayer, after the
            feed-forward sublayer (in every block of `layers`), and on the
            embedding output (one adapter, whatever `layers` says).
        initialization: str. `"houlsby"` (truncated normal with std
            `init_scale` for both projections) or `"zero_up"` (exact
            identity at the start).
        init_scale: float. Standard deviation for `"houlsby"`.
        dropout: float in [0, 1). Dropout inside the adapter, on the
            bottleneck activations.
        scaling: float. Multiplier on the adapter branch before it is added
            back to its input.
        layers: `None` for every transformer layer, or a list of layer
            indices (0-based) that get adapters.
        train_layer_norms: bool. Whether the backbone's layer norms train
            along with the adapter (Houlsby: yes).

    Example:

    >>> config = AdapterConfig.from_preset("houlsby", bottleneck_size=32)
    >>> config.bottleneck_size, config.placements
    (32, ('attention', 'feedforward'))
    >>> AdapterConfig.from_dict(config.to_dict()) == config
    True
    """

    bottleneck_size: int | None = 64
    reduction_factor: float | None = None
    activation: str = "gelu"
    placements: tuple = ("attention", "feedforward")
    initialization: str = "houlsby"
    init_scale: float = 1e-3
    dropout: float = 0.0
    scaling: float = 1.0
    layers: tuple | None = None
    train_layer_norms: bool = True

    def __post_init__(self):
        # Normalise list-valued fields to tuples so configs hash and compare.
        if isinstance(self.placements, str):
            object.__setattr__(self, "placements", (self.placements,))
        object.__setattr__(self, "placements", tuple(self.placements))
        if self.layers is not None:
            if isinstance(self.layers, int):
                object.__setattr__(self, "layers", (self.layers,))
            object.__setattr__(self, "layers", tuple(self.layers))
        self._validate()

    def _validate(self):
        has_size = self.bottleneck_size is not None
        has_factor = self.reduction_factor is not None
        if has_size == has_factor:
            raise ValueError(
                "Invalid AdapterConfig: set exactly one of `bottleneck_size` "
                f"and `reduction_factor` (got bottleneck_size="
                f"{self.bottleneck_size!r}, reduction_factor="
                f"{self.reduction_factor!r})."
            )
        if has_size and (
            isinstance(self.bottleneck_size, bool)
            or not isinstance(self.bottleneck_size, int)
            or self.bottleneck_size <= 0
        ):
            _fail("bottleneck_size", self.bottleneck_size, "a positive int")
        if has_factor and (
            isinstance(self.reduction_factor, bool)
            or not isinstance(self.reduction_factor, (int, float))
            or not self.reduction_factor > 0
            or not math.isfinite(self.reduction_factor)
        ):
            _fail("reduction_factor", self.reduction_factor, "a positive number")
        if self.activation not in ACTIVATIONS:
            _fail("activation", self.activation, ", ".join(ACTIVATIONS))
        if not self.placements:
            _fail("placements", self.placements, f"a non-empty subset of {PLACEMENTS}")
        for placement in self.placements:
            if placement not in PLACEMENTS:
                _fail("placements", placement, ", ".join(PLACEMENTS))
        if len(set(self.placements)) != len(self.placements):
            _fail("placements", self.placements, "each placement at most once")
        if self.initialization not in INITIALIZATIONS:
            _fail("initialization", self.initialization, ", ".join(INITIALIZATIONS))
        if not isinstance(self.init_scale, (int, float)) or not self.init_scale > 0:
            _fail("init_scale", self.init_scale, "a positive number")
        if (
            not isinstance(self.dropout, (int, float))
            or isinstance(self.dropout, bool)
            or not 0 <= self.dropout < 1
        ):
            _fail("dropout", self.dropout, "a number in [0, 1)")
        if not isinstance(self.scaling, (int, float)) or isinstance(self.scaling, bool):
            _fail("scaling", self.scaling, "a number")
        if self.layers is not None:
            if not self.layers:
                _fail("layers", list(self.layers), "None (every layer) or a non-empty list")
            for index in self.layers:
                if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                    _fail("layers", index, "non-negative int layer indices")
            if len(set(self.layers)) != len(self.layers):
                _fail("layers", list(self.layers), "each layer index at most once")
        if not isinstance(self.train_layer_norms, bool):
            _fail("train_layer_norms", self.train_layer_norms, "True or False")

    # -- resolution against a backbone ------------------------------------

    def resolve_bottleneck(self, hidden_dim):
        """Returns the bottleneck width for a backbone of `hidden_dim`."""
        if self.bottleneck_size is not None:
            return self.bottleneck_size
        return max(1, int(hidden_dim // self.reduction_factor))

    def resolve_layers(self, num_layers):
        """Returns the sorted layer indices that get adapters.

        Raises:
            ValueError: if an index is not below `num_layers`.
        """
        if self.layers is None:
            return tuple(range(num_layers))
        bad = [i for i in self.layers if i >= num_layers]
        if bad:
            _fail(
                "layers",
                bad,
                f"indices 0..{num_layers - 1} (this backbone has {num_layers} "
                "transformer layers)",
            )
        return tuple(sorted(self.layers))

    # -- construction and serialization -----------------------------------

    @classmethod
    def presets(cls):
        """Names of the built-in presets."""
        return tuple(_PRESETS)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds a config from a named preset, with fields overridden.

        Passing `bottleneck_size` to a preset defined by `reduction_factor`
        (or the reverse) replaces it.

        Raises:
            ValueError: for an unknown preset name or invalid overrides.
        """
        if name not in _PRESETS:
            raise ValueError(
                f"Unknown adapter preset {name!r}. Allowed: {', '.join(_PRESETS)}."
            )
        fields = dict(_PRESETS[name])
        if "bottleneck_size" in overrides:
            fields.pop("reduction_factor", None)
        if "reduction_factor" in overrides:
            fields.pop("bottleneck_size", None)
        fields.setdefault("bottleneck_size", None)
        fields.update(overrides)
        return cls.from_dict(fields)

    def to_dict(self):
        """A JSON-compatible dict, including the format version."""
        data = dataclasses.asdict(self)
        data["placements"] = list(self.placements)
        data["layers"] = None if self.layers is None else list(self.layers)
        data["format_version"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data):
        """Builds a config from `to_dict()` output (missing fields default).

        Raises:
            ValueError: on unknown fields or a newer format version.
        """
        data = dict(data)
        version = data.pop("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"This adapter config has format_version {version!r}; this "
                f"keras-adapters reads versions up to {FORMAT_VERSION}. "
                "Upgrade keras-adapters to load it."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Unknown AdapterConfig field(s) {unknown}. Allowed: {sorted(known)}."
            )
        if "reduction_factor" in data and data["reduction_factor"] is not None:
            data.setdefault("bottleneck_size", None)
        return cls(**data)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def replace(self, **changes):
        """A copy with some fields changed (validated)."""
        data = self.to_dict()
        if "bottleneck_size" in changes:
            data["reduction_factor"] = None
        if "reduction_factor" in changes:
            data["bottleneck_size"] = None
        data.update(changes)
        return AdapterConfig.from_dict(data)

    @classmethod
    def get(cls, spec, **overrides):
        """Resolves what users pass as `config=`.

        Args:
            spec: an `AdapterConfig`, a preset name, a dict from
                `to_dict()`, a path to a JSON file holding such a dict, or a
                directory written by `save_adapters`.
            **overrides: fields to change on the result.

        Raises:
            ValueError: if `spec` is none of the above or is invalid.
        """
        if isinstance(spec, AdapterConfig):
            config = spec
        elif isinstance(spec, dict):
            config = cls.from_dict(spec)
        elif isinstance(spec, (str, os.PathLike)):
            text = os.fspath(spec)
            if text in _PRESETS:
                config = cls.from_preset(text)
            elif os.path.isfile(os.path.join(text, SAVED_ADAPTER_CONFIG_FILE)):
                # A directory written by `save_adapters`: reuse its config.
                with open(os.path.join(text, SAVED_ADAPTER_CONFIG_FILE), encoding="utf-8") as f:
                    config = cls.from_dict(json.load(f)["adapter_config"])
            elif text.endswith(".json") or os.path.exists(text):
                if not os.path.isfile(text):
                    raise ValueError(f"Adapter config file {text!r} does not exist.")
                with open(text, encoding="utf-8") as f:
                    try:
                        data = json.load(f)
                    except json.JSONDecodeError as e:
                        raise ValueError(
                            f"Adapter config file {text!r} is not valid JSON: {e}"
                        ) from None
                if not isinstance(data, dict):
                    raise ValueError(
                        f"Adapter config file {text!r} must hold a JSON object."
                    )
                config = cls.from_dict(data)
            else:
                raise ValueError(
                    f"Unknown adapter preset {text!r}. Allowed: "
                    f"{', '.join(_PRESETS)}, or a path to a JSON config file."
                )
        else:
            raise ValueError(
                "`config` must be an AdapterConfig, a preset name "
                f"({', '.join(_PRESETS)}), a dict or a JSON file path; got "
                f"{type(spec).__name__}."
            )
        return config.replace(**overrides) if overrides else config
