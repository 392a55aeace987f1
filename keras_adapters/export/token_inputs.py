"""The token inputs of an exported model, and a random valid sample of them.

A classifier takes the dict of its functional inputs; a KerasHub `CausalLM`
takes its backbone's (`token_ids`, `padding_mask`). Tokenization stays
outside the served graph, so these are what a client sends.
"""

import numpy as np

from keras_adapters.errors import KerasAdaptersError

__all__ = ["default_sample_inputs"]


def is_causal_lm(model):
    """Whether `model` is a KerasHub `CausalLM` (exported with `logits` per token)."""
    import keras_hub

    return isinstance(model, keras_hub.models.CausalLM)


def token_input_names(model):
    """The names of the int32 token inputs `model` is served with."""
    if is_causal_lm(model):
        return [name for name in model.backbone.input]
    if isinstance(model.input, dict):
        return list(model.input)
    raise KerasAdaptersError(
        "export_saved_model expects a model with named token inputs (a dict of "
        "token_ids / padding_mask / segment_ids), such as PooledTextClassifier, a "
        f"KerasHub text classifier or a KerasHub CausalLM; got inputs {model.input}."
    )


def _vocabulary_size(model):
    backbone = getattr(model, "backbone", None)
    embedding = getattr(backbone, "token_embedding", None)
    return getattr(embedding, "input_dim", 100)


def default_sample_inputs(model, batch_size=2, length=16, seed=0):
    """Random valid token inputs for `model`, with some padding."""
    rng = np.random.default_rng(seed)
    vocabulary = max(_vocabulary_size(model), 2)
    length = min(length, getattr(getattr(model, "backbone", None), "max_sequence_length", length))
    sample = {}
    for name in token_input_names(model):
        if name == "padding_mask":
            mask = np.ones((batch_size, length), "int32")
            mask[1:, length // 2 :] = 0
            sample[name] = mask
        elif name == "segment_ids":
            sample[name] = np.zeros((batch_size, length), "int32")
        else:
            sample[name] = rng.integers(1, min(vocabulary, 1000), (batch_size, length)).astype("int32")
    return sample
