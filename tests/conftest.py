"""Tiny random-initialised KerasHub backbones and inputs for fast tests."""

import keras
import keras_hub
import numpy as np
import pytest

VOCAB = 64
SEQ = 8
HIDDEN = 16


def _tiny(backbone_class, max_sequence_length=SEQ, **kwargs):
    args = dict(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=HIDDEN,
        intermediate_dim=32, max_sequence_length=max_sequence_length,
    )
    args.update(kwargs)
    return backbone_class(**args)


def bert(**kwargs):
    return _tiny(keras_hub.models.BertBackbone, **kwargs)


def gpt2(**kwargs):
    return _tiny(keras_hub.models.GPT2Backbone, **{"max_sequence_length": 16, **kwargs})


def roberta(**kwargs):
    return _tiny(keras_hub.models.RobertaBackbone, **kwargs)


def distil_bert(**kwargs):
    return _tiny(keras_hub.models.DistilBertBackbone, **kwargs)


def opt(**kwargs):
    return _tiny(keras_hub.models.OPTBackbone, **kwargs)


def make_tiny_preset(path, words, num_layers=2):
    """A random-initialised BERT with a word vocabulary, saved as a local preset."""
    path = str(path)
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(words)
    keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=num_layers, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    ).save_to_preset(path)
    keras_hub.models.BertTokenizer(vocabulary=vocabulary).save_to_preset(path)
    return path


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
