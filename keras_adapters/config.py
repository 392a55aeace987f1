"""`AdapterConfig`: one JSON-serializable description of an adapter.

The values its fields allow are in `keras_adapters.config_fields`, what
each `kind` uses in `keras_adapters.adapter_kinds`, the built-in presets in
`keras_adapters.adapter_presets`, and the grammar of `layers` in
`keras_adapters.layer_selection`; their public names are importable from
here too. Neither Keras nor TensorFlow is imported: `keras-adapters --help`
reads this module.
"""

import dataclasses
import json
import os

from keras_adapters.adapter_kinds import ALLOWED_TARGETS, normalize_kind_fields, uses_bottleneck
from keras_adapters.adapter_presets import PRESETS
from keras_adapters.config_fields import (
    ACTIVATIONS,
    BLOCK_PLACEMENTS,
    INITIALIZATIONS,
    PLACEMENTS,
    check_fields,
)
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layer_selection import (
    LAYERS_ALLOWED,
    layers_label,
    parse_layers,
    resolve_layer_selection,
)
from keras_adapters.utils.json_files import read_json_object

__all__ = [
    "ACTIVATIONS",
    "BLOCK_PLACEMENTS",
    "FORMAT_VERSION",
    "INITIALIZATIONS",
    "LAYERS_ALLOWED",
    "PLACEMENTS",
    "SAVED_ADAPTER_CONFIG_FILE",
    "AdapterConfig",
    "layers_label",
    "parse_layers",
    "resolve_layer_selection",
]

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
            "cross_attention", "embedding")`: after the self-attention
            sublayer, after the feed-forward sublayer (in every block of
            `layers`), after the cross-attention sublayer (in the decoder
            blocks of `layers` that have one: BART's), and on the
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
        check_fields(self)

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
        return tuple(PRESETS)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds a config from a named preset, with fields overridden.

        Passing `bottleneck_size` to a preset defined by `reduction_factor`
        (or the reverse) replaces it.

        Raises:
            KerasAdaptersError: for an unknown preset name or invalid overrides.
        """
        if name not in PRESETS:
            raise KerasAdaptersError(
                f"Unknown adapter preset {name!r}. Allowed: {', '.join(PRESETS)}."
            )
        fields = dict(PRESETS[name])
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
            if text in PRESETS:
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
                    f"{', '.join(PRESETS)}, or a path to a JSON config file."
                )
        else:
            raise KerasAdaptersError(
                "`config` must be an AdapterConfig, a preset name "
                f"({', '.join(PRESETS)}), a dict or a JSON file path; got "
                f"{type(spec).__name__}."
            )
        return config.replace(**overrides) if overrides else config
