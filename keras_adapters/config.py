"""`AdapterConfig`: one JSON-serializable description of an adapter."""

import dataclasses
import json
import math
import os

from keras_adapters.errors import KerasAdaptersError

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
    raise KerasAdaptersError(
        f"Invalid AdapterConfig field `{field}`: got {value!r}. Allowed: {allowed}."
    )


def _is_finite_number(value):
    """True for an int or float (not a bool) that is neither NaN nor infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # math.isfinite cannot convert a huge int to float; every int is finite.
    return isinstance(value, int) or math.isfinite(value)


def read_json_object(path, what="JSON file"):
    """Reads a UTF-8 JSON file that must hold one object.

    Args:
        path: the file.
        what: how messages name the file (e.g. "Run file").

    Returns:
        The parsed dict.

    Raises:
        KerasAdaptersError: if the file cannot be read, is not UTF-8, is not
            valid (e.g. truncated) JSON or holds something other than an
            object; the message names the file.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "cut.json")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"format": "keras-adap')
    >>> read_json_object(path, "Run file")
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Run file '...cut.json' is not valid JSON (truncated or edited?): Unterminated string starting at: line 1 column 12 (char 11).
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise KerasAdaptersError(f"{what} {path!r} cannot be read: {e.strerror or e}.") from None
    except UnicodeDecodeError as e:
        raise KerasAdaptersError(
            f"{what} {path!r} is not UTF-8 text (byte offset {e.start}); it is damaged "
            "or not the file keras-adapters wrote."
        ) from None
    except (ValueError, RecursionError) as e:
        # JSONDecodeError, or a number too long to convert, or deep nesting.
        raise KerasAdaptersError(
            f"{what} {path!r} is not valid JSON (truncated or edited?): {e}."
        ) from None
    if not isinstance(data, dict):
        raise KerasAdaptersError(
            f"{what} {path!r} must hold a JSON object; it holds a JSON "
            f"{type(data).__name__}."
        )
    return data


@dataclasses.dataclass(frozen=True)
class AdapterConfig:
    """Describes a bottleneck adapter and where it goes in a backbone.

    Exactly one of `bottleneck_size` and `reduction_factor` is set; with a
    reduction factor the bottleneck is `hidden_dim // reduction_factor`
    (at least 1), resolved when the adapter is inserted into a backbone.
    The resolved width may be at most 4 x the backbone's hidden size (the
    feed-forward width of BERT/GPT-2 blocks); `add_adapters` and
    `add_adapter` refuse a wider one before allocating anything.

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
            raise KerasAdaptersError(
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
            not _is_finite_number(self.reduction_factor) or not self.reduction_factor > 0
        ):
            _fail("reduction_factor", self.reduction_factor, "a finite positive number")
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
        # Float fields must be finite: a NaN or infinite value (JSON files may
        # hold `NaN` or `Infinity`) would train to NaN weights without an error.
        if not _is_finite_number(self.init_scale) or not self.init_scale > 0:
            _fail("init_scale", self.init_scale, "a finite positive number")
        if not _is_finite_number(self.dropout) or not 0 <= self.dropout < 1:
            _fail("dropout", self.dropout, "a number in [0, 1)")
        if not _is_finite_number(self.scaling):
            _fail("scaling", self.scaling, "a finite number (not NaN or infinity)")
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
            KerasAdaptersError: if an index is not below `num_layers`.
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
            KerasAdaptersError: for an unknown preset name or invalid overrides.
        """
        if name not in _PRESETS:
            raise KerasAdaptersError(
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
            KerasAdaptersError: on unknown fields or a newer format version.
        """
        if not isinstance(data, dict):
            raise KerasAdaptersError(
                f"An adapter config must be a dict (JSON object); got {type(data).__name__}."
            )
        data = dict(data)
        version = data.pop("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise KerasAdaptersError(
                f"This adapter config has format_version {version!r}; this "
                f"keras-adapters reads versions up to {FORMAT_VERSION}. "
                "Upgrade keras-adapters to load it."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KerasAdaptersError(
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
            KerasAdaptersError: if `spec` is none of the above or is invalid.
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
                saved_path = os.path.join(text, SAVED_ADAPTER_CONFIG_FILE)
                document = read_json_object(saved_path, "Saved adapter config file")
                if not isinstance(document.get("adapter_config"), dict):
                    raise KerasAdaptersError(
                        f"Saved adapter config file {saved_path!r} has no `adapter_config` "
                        "object; it was not written by keras_adapters.save_adapters."
                    )
                config = cls.from_dict(document["adapter_config"])
            elif text.endswith(".json") or os.path.exists(text):
                if not os.path.isfile(text):
                    raise KerasAdaptersError(f"Adapter config file {text!r} does not exist.")
                config = cls.from_dict(read_json_object(text, "Adapter config file"))
            else:
                raise KerasAdaptersError(
                    f"Unknown adapter preset {text!r}. Allowed: "
                    f"{', '.join(_PRESETS)}, or a path to a JSON config file."
                )
        else:
            raise KerasAdaptersError(
                "`config` must be an AdapterConfig, a preset name "
                f"({', '.join(_PRESETS)}), a dict or a JSON file path; got "
                f"{type(spec).__name__}."
            )
        return config.replace(**overrides) if overrides else config
