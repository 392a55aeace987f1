"""Tiny random-initialised KerasHub backbones and inputs for fast tests."""

import keras
import keras_hub
import numpy as np
import pytest

VOCAB = 64
SEQ = 8
HIDDEN = 16


def bert(**kwargs):
    args = dict(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=HIDDEN,
        intermediate_dim=32, max_sequence_length=SEQ,
    )
    args.update(kwargs)
    return keras_hub.models.BertBackbone(**args)


def gpt2(**kwargs):
    args = dict(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=HIDDEN,
        intermediate_dim=32, max_sequence_length=16,
    )
    args.update(kwargs)
    return keras_hub.models.GPT2Backbone(**args)


def roberta(**kwargs):
    args = dict(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=HIDDEN,
        intermediate_dim=32, max_sequence_length=SEQ,
    )
    args.update(kwargs)
    return keras_hub.models.RobertaBackbone(**args)


def distil_bert(**kwargs):
    args = dict(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=HIDDEN,
        intermediate_dim=32, max_sequence_length=SEQ,
    )
    args.update(kwargs)
    return keras_hub.models.DistilBertBackbone(**args)


def opt(**kwargs):
    args = dict(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=HIDDEN,
        intermediate_dim=32, max_sequence_length=SEQ,
    )
    args.update(kwargs)
    return keras_hub.models.OPTBackbone(**args)


def inputs_for(backbone, batch=4, seed=0):
    """Random valid inputs for any backbone's functional signature."""
    rng = np.random.default_rng(seed)
    data = {}
    for key in backbone.input:
        if "mask" in key:
            mask = np.ones((batch, SEQ), "int32")
            mask[:, -2:] = 0  # some padding, so masks matter
            data[key] = mask
        elif "segment" in key:
            data[key] = np.zeros((batch, SEQ), "int32")
        else:
            data[key] = rng.integers(1, VOCAB, (batch, SEQ)).astype("int32")
    return data


def output_of(backbone, inputs):
    out = backbone(inputs, training=False)
    if isinstance(out, dict):
        out = out["sequence_output"]
    return keras.ops.convert_to_numpy(out)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
