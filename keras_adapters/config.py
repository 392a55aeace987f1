"""`AdapterConfig`: one JSON-serializable description of an adapter."""

import dataclasses
import json
import math
import numbers
import os

from keras_adapters.adapter_kinds import ALLOWED_TARGETS, normalize_kind_fields, uses_bottleneck
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
# 2: `layers` may be "top:K"/"bottom:K" (kept as written), and with `layers`
# set, `train_layer_norms` trains only the selected blocks' layer norms.
# Version-1 files load unchanged (their `layers` are indices or null).
# 3: `kind` ("bottleneck", "parallel", "lora", "ia3") with `rank`, `alpha`,
# `targets`; files without `kind` are bottleneck adapters, as before.
FORMAT_VERSION = 3

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
    # He et al. 2022's scaled parallel adapter: on the feed-forward sublayer,
    # reading its input, s=4, bottleneck = hidden size / 2 (their 512 for
    # d=1024), LoRA-style init (zero up-projection: exact identity at start).
    "parallel": dict(
        kind="parallel",
        reduction_factor=2,
        activation="relu",
        placements=("feedforward",),
        initialization="zero_up",
        scaling=4.0,
        train_layer_norms=False,
    ),
    # LoRA on the query and value projections, rank 8, alpha = rank (scale
    # 1): the setting of KerasHub's `enable_lora(8)`.
    "lora": dict(kind="lora", rank=8, targets=("query", "value"), train_layer_norms=False),
    # (IA)^3: rescaling of keys, values and the feed-forward activation.
    "ia3": dict(kind="ia3", targets=("key", "value", "ffn_intermediate"), train_layer_norms=False),
}


#: What `layers` accepts, for messages.
LAYERS_ALLOWED = (
    "None or 'all' (every block), 'top:K' or 'bottom:K' (the last or first K blocks, "
    "K >= 1), or distinct block indices >= 0 such as [3, 4, 5] or '3,4,5'"
)


def _bad_layers(spec, problem):
    raise KerasAdaptersError(
        f"Invalid layer selection (`layers`) {spec!r}: {problem}. Allowed: {LAYERS_ALLOWED}."
    )


def parse_layers(spec):
    """Parses a layer selection into the form `AdapterConfig.layers` keeps.

    The one parser of layer selections: `AdapterConfig`, the CLI's
    `--layers` and the tuner's `layers=` choices all go through it. Blocks
    are counted as `keras_adapters.surgery.layer_count.num_adaptable_blocks`
    counts them (BART: encoder blocks, then decoder blocks). `"top:K"` and
    `"bottom:K"` stay symbolic: `resolve_layer_selection` turns them into
    indices for a given backbone.

    Args:
        spec: `None` or `"all"` (every block); `"top:K"` / `"bottom:K"`
            (the last / first K blocks); or explicit block indices: an int,
            a list or tuple of ints, or a comma-separated string `"3,4,5"`
            (the form the CLI takes).

    Returns:
        `None` (every block), a string `"top:K"` / `"bottom:K"` (spaces and
        leading zeros removed), or a tuple of ints in the order given.

    Raises:
        KerasAdaptersError: for anything else: K below 1, a negative or
            repeated index, an empty selection, an unknown word.

    Example:

    >>> from keras_adapters.config import parse_layers
    >>> parse_layers("top:3"), parse_layers(" 3, 4,5 "), parse_layers("all"), parse_layers(2)
    ('top:3', (3, 4, 5), None, (2,))
    >>> parse_layers("top:0")
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Invalid layer selection (`layers`) 'top:0': K must be at least 1. Allowed: None or 'all' (every block), 'top:K' or 'bottom:K' (the last or first K blocks, K >= 1), or distinct block indices >= 0 such as [3, 4, 5] or '3,4,5'.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "all":
            return None
        where, colon, count = text.partition(":")
        where, count = where.strip(), count.strip()
        if colon:
            if where not in ("top", "bottom") or not count.isdecimal():
                _bad_layers(spec, "expected 'top:K' or 'bottom:K' with an integer K")
            if int(count) < 1:
                _bad_layers(spec, "K must be at least 1")
            return f"{where}:{int(count)}"
        parts = [part.strip() for part in text.split(",")]
        if not all(part.isdecimal() for part in parts):
            _bad_layers(spec, "not a known word nor comma-separated indices")
        indices = tuple(int(part) for part in parts)
    elif isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        indices = (int(spec),)
    elif isinstance(spec, (list, tuple)):
        for index in spec:
            if isinstance(index, bool) or not isinstance(index, numbers.Integral):
                _bad_layers(spec, f"{index!r} is not an integer block index")
        indices = tuple(int(index) for index in spec)
    else:
        _bad_layers(spec, f"a {type(spec).__name__} is not a layer selection")
    if not indices:
        _bad_layers(spec, "the selection is empty")
    if any(index < 0 for index in indices):
        _bad_layers(spec, "block indices must be >= 0")
    if len(set(indices)) != len(indices):
        _bad_layers(spec, "each block index at most once")
    return indices


def layers_label(spec):
    """The text form of a layer selection: `"all"`, `"top:K"`, `"bottom:K"` or `"3,4,5"`.

    `parse_layers` reads it back (indices come back sorted); the tuner uses
    it as the value of its `layers` hyperparameter.

    Args:
        spec: anything `parse_layers` accepts.

    Returns:
        A string.

    Raises:
        KerasAdaptersError: if `parse_layers` refuses `spec`.

    Example:

    >>> from keras_adapters.config import layers_label
    >>> layers_label(None), layers_label([5, 3, 4]), layers_label("TOP:03")
    ('all', '3,4,5', 'top:3')
    """
    selection = parse_layers(spec)
    if selection is None:
        return "all"
    if isinstance(selection, str):
        return selection
    return ",".join(str(index) for index in sorted(selection))


def resolve_layer_selection(spec, num_blocks):
    """The sorted block indices a layer selection picks on a backbone.

    Args:
        spec: anything `parse_layers` accepts.
        num_blocks: how many transformer blocks the backbone has for
            adapters (`num_adaptable_blocks`: encoder + decoder for BART).

    Returns:
        A sorted tuple of block indices.

    Raises:
        KerasAdaptersError: if `spec` is invalid, `"top:K"`/`"bottom:K"`
            asks for more blocks than there are, or an index is not below
            `num_blocks`.

    Example:

    >>> from keras_adapters.config import resolve_layer_selection
    >>> resolve_layer_selection("top:2", 6), resolve_layer_selection("bottom:1", 6)
    ((4, 5), (0,))
    >>> resolve_layer_selection("top:7", 6)
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Invalid layer selection (`layers`) 'top:7': it asks for 7 layers; the backbone has 6 transformer blocks (BART counts its encoder and decoder blocks). Allowed: K from 1 to 6.
    """
    selection = parse_layers(spec)
    if selection is None:
        return tuple(range(num_blocks))
    if isinstance(selection, str):
        where, _, count = selection.partition(":")
        count = int(count)
        if count > num_blocks:
            raise KerasAdaptersError(
                f"Invalid layer selection (`layers`) {selection!r}: it asks for {count} layers; "
                f"the backbone has {num_blocks} transformer blocks (BART counts its encoder "
                f"and decoder blocks). Allowed: K from 1 to {num_blocks}."
            )
        return tuple(range(num_blocks - count, num_blocks)) if where == "top" else tuple(range(count))
    bad = [index for index in selection if index >= num_blocks]
    if bad:
        _fail(
            "layers",
            bad,
            f"indices 0..{num_blocks - 1} (this backbone has {num_blocks} transformer "
            "blocks; BART counts its encoder and decoder blocks)",
        )
    return tuple(sorted(selection))


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
    >>> from keras_adapters.config import read_json_object
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
        layers: which transformer blocks get adapters: `None` or `"all"`
            (every block), `"top:K"` / `"bottom:K"` (the last / first K
            blocks), or block indices (0-based; a list, or `"3,4,5"`). Blocks
            are counted by `num_adaptable_blocks` (BART: the encoder's, then
            the decoder's). `"top:K"` stays symbolic in the config and its
            JSON and is resolved against each backbone (`resolve_layers`);
            `"all"` is stored as `None`. Leaving the lower blocks out is
            what makes training faster: gradients stop at the lowest block
            that holds something trainable.
        train_layer_norms: bool. Whether layer norms train along with the
            adapter (Houlsby: yes). With `layers=None`, every layer norm of
            the backbone trains: each block's, the embedding layer norm and
            a final one after the last block (GPT-2, OPT). With `layers`
            set, only the norms of the selected blocks train (the final
            layer norm counts as the last block's), and the embedding layer
            norm only when `placements` includes `"embedding"`; so nothing
            below the lowest selected block trains.
        kind: str. The method (`keras_adapters.adapter_kinds`):
            `"bottleneck"` (default), `"parallel"` (a bottleneck branch
            reading the sublayer's input, added to its output times
            `scaling`; `placements` attention/feedforward), `"lora"`
            (low-rank kernel updates on `targets`), `"ia3"` (rescaling
            vectors on `targets`). Fields a kind does not use must keep
            their defaults; LoRA and (IA)^3 have no bottleneck
            (`bottleneck_size` is None) and store as `placements` the
            sublayers their targets touch.
        rank: int. LoRA rank (default 8).
        alpha: float. LoRA alpha: updates are scaled by `alpha / rank`;
            None means alpha = rank (scale 1, as Keras' `enable_lora`).
        targets: tuple of str. LoRA: projections among `"query"`, `"key"`,
            `"value"`, `"attention_output"`, `"ffn_intermediate"`,
            `"ffn_output"` (default query, value). (IA)^3: among `"key"`,
            `"value"`, `"ffn_intermediate"` (the intermediate activation;
            default all three).

    Example:

    >>> from keras_adapters import AdapterConfig
    >>> config = AdapterConfig.from_preset("houlsby", bottleneck_size=32)
    >>> config.bottleneck_size, config.placements
    (32, ('attention', 'feedforward'))
    >>> AdapterConfig.from_dict(config.to_dict()) == config
    True

    Adapters in the top three blocks only, whatever the depth:

    >>> top = AdapterConfig.get("houlsby", layers="top:3")
    >>> top.layers, top.to_dict()["layers"], top.resolve_layers(6), top.resolve_layers(12)
    ('top:3', 'top:3', (3, 4, 5), (9, 10, 11))

    Other methods, managed by name like bottleneck adapters:

    >>> lora = AdapterConfig.get("lora", rank=4)
    >>> lora.kind, lora.rank, lora.targets, lora.placements, lora.bottleneck_size
    ('lora', 4, ('query', 'value'), ('attention',), None)
    >>> AdapterConfig.get("parallel").scaling
    4.0
    """

    bottleneck_size: int | None = 64
    reduction_factor: float | None = None
    activation: str = "gelu"
    placements: tuple = ("attention", "feedforward")
    initialization: str = "houlsby"
    init_scale: float = 1e-3
    dropout: float = 0.0
    scaling: float = 1.0
    layers: tuple | str | None = None
    train_layer_norms: bool = True
    kind: str = "bottleneck"
    rank: int | None = None
    alpha: float | None = None
    targets: tuple | None = None

    def __post_init__(self):
        # Normalise list-valued fields to tuples so configs hash and compare.
        if isinstance(self.placements, str):
            object.__setattr__(self, "placements", (self.placements,))
        object.__setattr__(self, "placements", tuple(self.placements))
        object.__setattr__(self, "layers", parse_layers(self.layers))
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        values = {name: getattr(self, name) for name in defaults}
        for field, value in normalize_kind_fields(values, defaults).items():
            object.__setattr__(self, field, value)
        self._validate()

    def _validate(self):
        has_size = self.bottleneck_size is not None
        has_factor = self.reduction_factor is not None
        if not uses_bottleneck(self.kind):
            has_size = has_factor = False  # cleared by `normalize_kind_fields`
        elif has_size == has_factor:
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
        # `layers` was checked by `parse_layers` in `__post_init__`.
        if not isinstance(self.train_layer_norms, bool):
            _fail("train_layer_norms", self.train_layer_norms, "True or False")

    # -- resolution against a backbone ------------------------------------

    def resolve_bottleneck(self, hidden_dim):
        """Returns the bottleneck width for a backbone of `hidden_dim` (None for LoRA, (IA)^3)."""
        if not uses_bottleneck(self.kind):
            return None
        if self.bottleneck_size is not None:
            return self.bottleneck_size
        return max(1, int(hidden_dim // self.reduction_factor))

    def resolve_layers(self, num_layers):
        """Returns the sorted block indices that get adapters.

        Args:
            num_layers: the backbone's number of adaptable blocks
                (`keras_adapters.surgery.layer_count.num_adaptable_blocks`;
                encoder + decoder blocks for BART).

        Returns:
            A sorted tuple of block indices.

        Raises:
            KerasAdaptersError: if `"top:K"`/`"bottom:K"` asks for more than
                `num_layers` blocks or an index is not below `num_layers`.
        """
        return resolve_layer_selection(self.layers, num_layers)

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
        # "top:K" is written as is: the file stays valid for any depth.
        data["layers"] = list(self.layers) if isinstance(self.layers, tuple) else self.layers
        data["targets"] = None if self.targets is None else list(self.targets)
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
        if ("kind" in changes or "targets" in changes) and "placements" not in changes:
            # LoRA and (IA)^3 derive `placements` from their targets anew.
            if changes.get("kind", self.kind) in ALLOWED_TARGETS:
                del data["placements"]
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
