"""Sequence-to-sequence (summarisation, translation) with an adapted BART.

KerasHub's `BartSeq2SeqLM` takes an adapted `BartBackbone` as it is: its
`generate` calls the backbone's encoder and decoder blocks directly (the
cached decoding of `call_decoder_with_cache`), and the adapters live inside
those blocks, so generation runs them. Adapters can sit after each block's
self-attention and feed-forward sublayers and, in the decoder, after the
cross-attention sublayer (`placements=(..., "cross_attention")`).

No pretrained BART weights install offline, so `random_bart_backbone`
builds a small random-initialised BART; with real weights, start from
`keras_hub.models.BartBackbone.from_preset(...)` instead.

Example:

>>> import keras_hub
>>> from keras_adapters import add_adapters
>>> from keras_adapters.tasks.seq2seq import random_bart_backbone, seq2seq_lm
>>> vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "a": 3, "b": 4, "Ġ": 5, "Ġa": 6, "Ġb": 7}
>>> tokenizer = keras_hub.models.BartTokenizer(vocabulary=vocabulary, merges=["Ġ a", "Ġ b"])
>>> backbone = random_bart_backbone(len(vocabulary), hidden_dim=16, num_layers=1, max_sequence_length=16)
>>> adapted = add_adapters(backbone, "houlsby", bottleneck_size=4,
...                        placements=("attention", "cross_attention", "feedforward"))
>>> lm = seq2seq_lm(adapted, tokenizer, source_length=8, target_length=8)
>>> type(lm).__name__, sorted({p for _, p, _ in adapted.adapter_layers("default")})
('BartSeq2SeqLM', ['attention', 'cross_attention', 'feedforward'])
"""

import keras
import keras_hub

from keras_adapters.errors import KerasAdaptersError

__all__ = ["compile_seq2seq", "random_bart_backbone", "seq2seq_lm"]


def random_bart_backbone(vocabulary_size, *, hidden_dim=64, num_layers=2, num_heads=2,
                         intermediate_dim=None, max_sequence_length=128, dropout=0.1, seed=None):
    """A small random-initialised `keras_hub.models.BartBackbone`.

    Args:
        vocabulary_size: the tokenizer's vocabulary size.
        hidden_dim: model width.
        num_layers: encoder blocks, and as many decoder blocks.
        num_heads: attention heads (must divide `hidden_dim`).
        intermediate_dim: feed-forward width (default 4 x `hidden_dim`).
        max_sequence_length: longest source or target, in tokens.
        dropout: dropout rate of the blocks.
        seed: if set, `keras.utils.set_random_seed(seed)` first, so the
            weights are reproducible.

    Returns:
        A `BartBackbone` with random weights.

    Raises:
        KerasAdaptersError: if `num_heads` does not divide `hidden_dim`.
    """
    if hidden_dim % num_heads:
        raise KerasAdaptersError(
            f"num_heads ({num_heads}) must divide hidden_dim ({hidden_dim}) for a BART backbone.")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return keras_hub.models.BartBackbone(
        vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads,
        hidden_dim=hidden_dim, intermediate_dim=intermediate_dim or 4 * hidden_dim,
        dropout=dropout, max_sequence_length=max_sequence_length,
    )


def seq2seq_lm(backbone, tokenizer, *, source_length, target_length):
    """A `BartSeq2SeqLM` on `backbone` (adapted or not) that reads raw text.

    Args:
        backbone: a `BartBackbone` (e.g. from `add_adapters`).
        tokenizer: a `keras_hub.models.BartTokenizer`.
        source_length: encoder tokens (longer sources are truncated).
        target_length: decoder tokens, the longest generated output too.

    Returns:
        A `keras_hub.models.BartSeq2SeqLM`; `fit` takes
        `{"encoder_text": [...], "decoder_text": [...]}`, `generate` a
        source string or list.

    Raises:
        KerasAdaptersError: if the lengths exceed the backbone's
            `max_sequence_length`.
    """
    longest = max(source_length, target_length)
    if longest > backbone.max_sequence_length:
        raise KerasAdaptersError(
            f"Sequence length {longest} exceeds the backbone's max_sequence_length "
            f"({backbone.max_sequence_length}); use at most that many source and target tokens.")
    preprocessor = keras_hub.models.BartSeq2SeqLMPreprocessor(
        tokenizer, encoder_sequence_length=source_length, decoder_sequence_length=target_length)
    return keras_hub.models.BartSeq2SeqLM(backbone=backbone, preprocessor=preprocessor)


def compile_seq2seq(lm, learning_rate, *, weight_decay=0.01, sampler="greedy", jit_compile=False):
    """Compiles `lm` for teacher-forced training and greedy generation.

    Args:
        lm: a `BartSeq2SeqLM`.
        learning_rate: AdamW learning rate (a float or a schedule).
        weight_decay: AdamW weight decay.
        sampler: `generate`'s sampler (default greedy, so results are
            deterministic).
        jit_compile: passed to `compile` (XLA off by default: faster to
            start on CPU for small models).
    """
    lm.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
        sampler=sampler,
        jit_compile=jit_compile,
    )
