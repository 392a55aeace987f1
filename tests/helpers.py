"""Test helpers: tiny random backbones, their inputs, and the layer contract.

A plain module (`from helpers import ...`), so tests import what they use
explicitly instead of relying on names from a conftest.

`run_layer_test` is the check every keras-adapters layer and adapted
backbone must pass, after Keras' `testing.TestCase.run_layer_test` and
KerasHub's `run_layer_test`: a serialized config rebuilds the same
function, a `.keras` file reloads it, mixed precision computes in the
policy's dtype with float32 variables, and Keras masks pass through.
"""

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.request

import keras
import keras_hub
import numpy as np

VOCAB = 64
SEQ = 8
HIDDEN = 16

# Tolerance of a mixed-precision output against the float32 one (same
# weights): float16 keeps 11 significant bits, bfloat16 8.
MIXED_PRECISION_ATOL = {"mixed_float16": 1e-2, "mixed_bfloat16": 6e-2}


# -- Tiny random backbones (2 layers, width 16) ---------------------------------


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


def xlm_roberta(**kwargs):
    return _tiny(keras_hub.models.XLMRobertaBackbone, **kwargs)


def distil_bert(**kwargs):
    return _tiny(keras_hub.models.DistilBertBackbone, **kwargs)


def electra(**kwargs):
    # ElectraBackbone names its vocabulary argument differently; an
    # embedding narrower than the blocks, as in real ELECTRA models.
    args = dict(
        vocab_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=HIDDEN, intermediate_dim=32,
        max_sequence_length=SEQ, embedding_dim=8,
    )
    args.update(kwargs)  # any of them, num_layers included, can be overridden
    return keras_hub.models.ElectraBackbone(**args)


def opt(**kwargs):
    return _tiny(keras_hub.models.OPTBackbone, **kwargs)


def bart(**kwargs):
    return _tiny(keras_hub.models.BartBackbone, **kwargs)


#: KerasHub class name -> factory of a tiny random backbone of that family,
#: for every family `keras_adapters.supported_backbones()` names.
TINY_BACKBONES = {
    "BertBackbone": bert,
    "RobertaBackbone": roberta,
    "XLMRobertaBackbone": xlm_roberta,
    "DistilBertBackbone": distil_bert,
    "ElectraBackbone": electra,
    "GPT2Backbone": gpt2,
    "OPTBackbone": opt,
    "BartBackbone": bart,
}


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
    """Random valid inputs for any backbone's functional signature.

    Padding masks end in two padded positions, so masks matter.
    """
    rng = np.random.default_rng(seed)
    data = {}
    for key in backbone.input:
        if "mask" in key:
            mask = np.ones((batch, SEQ), "int32")
            mask[:, -2:] = 0
            data[key] = mask
        elif "segment" in key:
            data[key] = np.zeros((batch, SEQ), "int32")
        else:
            data[key] = rng.integers(1, VOCAB, (batch, SEQ)).astype("int32")
    return data


def output_of(backbone, inputs):
    """The backbone's sequence output as numpy (the only output, or `sequence_output`)."""
    out = backbone(inputs, training=False)
    if isinstance(out, dict):
        out = out["sequence_output"]
    return keras.ops.convert_to_numpy(out)


# -- The layer contract -------------------------------------------------------------


def run_layer_test(make_layer, inputs, tmp_path, *, mask=None, policies=tuple(MIXED_PRECISION_ATOL)):
    """Checks that a layer (or adapted backbone) keeps the Keras layer contract.

    1. Config round trip: the JSON of `keras.saving.serialize_keras_object`
       rebuilds a layer of the same class and config that, given the
       weights, computes the same outputs. (For a model, step 2 is this
       check: a `.keras` file is that JSON plus the weights.)
    2. `.keras` round trip: saved in a model and loaded back, it is of the
       same class and config and computes the same outputs.
    3. Mixed precision: built with each policy in `policies`, it runs,
       every floating output has the policy's compute dtype, every
       floating variable stays float32, and the outputs match the float32
       layer's (same weights) within the policy's precision.
    4. Masking (when `mask` is given): the layer supports masking, and the
       Keras mask of its first input comes out on its output unchanged
       (a masked average downstream ignores the masked steps).

    Args:
        make_layer: callable taking `dtype=None` (a dtype policy name)
            that returns a new layer, or a KerasHub backbone, with the same
            architecture each time.
        inputs: a tuple of positional call arguments (arrays, or lists of
            arrays), or for a backbone its input dict.
        tmp_path: a directory for the `.keras` file.
        mask: optional bool array `(batch, steps)`: a Keras mask for the
            first input.
        policies: the mixed-precision policies to check.

    Returns:
        The float32 layer, built.
    """
    layer = make_layer()
    expected = _call(layer, inputs)

    # 1. Config round trip, through JSON as a `.keras` file stores it.
    if not isinstance(layer, keras.Model):
        serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        rebuilt = keras.saving.deserialize_keras_object(serialized)
        assert type(rebuilt) is type(layer)
        _build(rebuilt, inputs)
        assert _as_json(rebuilt.get_config()) == _as_json(layer.get_config())
        rebuilt.set_weights(layer.get_weights())
        _assert_all_close(_call(rebuilt, inputs), expected, "config round trip")

    # 2. `.keras` round trip. A layer is saved inside a functional model.
    model, model_inputs = _as_model(layer, inputs)
    path = os.path.join(str(tmp_path), f"{layer.name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_layer = loaded if model is layer else loaded.get_layer(layer.name)
    assert type(loaded_layer) is type(layer)
    assert _as_json(loaded_layer.get_config()) == _as_json(layer.get_config())
    _assert_all_close(_call(loaded, model_inputs), expected, ".keras round trip")

    # 3. Mixed precision, with the float32 layer's weights.
    for policy in policies:
        mixed = make_layer(dtype=policy)
        _build(mixed, inputs)
        mixed.set_weights(layer.get_weights())
        outputs = _call(mixed, inputs)
        compute_dtype = keras.DTypePolicy(policy).compute_dtype
        for output in keras.tree.flatten(outputs):
            if keras.backend.is_float_dtype(output.dtype):
                assert keras.backend.standardize_dtype(output.dtype) == compute_dtype, (policy, output.dtype)
        for variable in mixed.weights:
            if keras.backend.is_float_dtype(variable.dtype):
                assert variable.dtype == "float32", (policy, variable.path, variable.dtype)
        _assert_all_close(outputs, expected, policy, atol=MIXED_PRECISION_ATOL[policy])

    # 4. Masking: a masked average after the layer sees the input's mask.
    if mask is not None:
        assert layer.supports_masking, f"{type(layer).__name__} does not support masking"
        first, *rest = inputs
        masked = keras.layers.Masking(mask_value=0.0)(np.where(mask[..., None], first, 0.0))
        output = layer(masked, *rest, training=False)
        pooled = keras.layers.GlobalAveragePooling1D()(output)
        weights = mask[..., None].astype("float32")
        masked_mean = (keras.ops.convert_to_numpy(output) * weights).sum(axis=1) / weights.sum(axis=1)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(pooled), masked_mean, rtol=1e-5, atol=1e-6,
            err_msg=f"{type(layer).__name__} drops the Keras mask",
        )
    return layer


def assert_padding_is_ignored(backbone, inputs):
    """Checks that padded tokens do not change the outputs at real tokens.

    KerasHub backbones mask with `padding_mask` inputs rather than Keras
    masks; an adapter that mixed positions would leak padding into them.

    Args:
        backbone: a built backbone.
        inputs: its input dict; each `*padding_mask` marks padded positions
            with 0 in the matching `*token_ids`.
    """
    before = _call(backbone, inputs)
    changed = dict(inputs)
    for key in inputs:
        if key.endswith("padding_mask"):
            ids_key = key.replace("padding_mask", "token_ids")
            padded = inputs[key] == 0
            assert padded.any(), f"{key} pads nothing"
            changed[ids_key] = np.where(padded, (inputs[ids_key] + 1) % VOCAB, inputs[ids_key])
    after = _call(backbone, changed)
    outputs = before if isinstance(before, dict) else {"sequence_output": before}
    changed_outputs = after if isinstance(after, dict) else {"sequence_output": after}
    for name, output in outputs.items():
        output, changed_output = (keras.ops.convert_to_numpy(o) for o in (output, changed_outputs[name]))
        if output.ndim == 3:  # per token: compare the real tokens
            mask_key = "decoder_padding_mask" if name.startswith("decoder") else next(
                key for key in inputs if key.endswith("padding_mask") and not key.startswith("decoder")
            )
            real = inputs[mask_key].astype(bool)
            output, changed_output = output[real], changed_output[real]
        np.testing.assert_allclose(
            changed_output, output, rtol=1e-5, atol=1e-5, err_msg=f"padding leaks into {name}"
        )


def _as_json(config):
    """A config as stored (JSON: tuples become lists)."""
    return json.loads(json.dumps(config))


def _build(layer, inputs):
    """Builds a layer by calling it once (functional models are built already)."""
    if not layer.built:
        _call(layer, inputs)


def _call(layer, inputs):
    """The layer's (or model's) outputs on `inputs`, in inference mode."""
    if isinstance(inputs, tuple):
        return layer(*inputs, training=False)
    return layer(inputs, training=False)


def _as_model(layer, inputs):
    """`(model, model_inputs)`: the backbone itself, or a functional model around the layer."""
    if isinstance(layer, keras.Model):
        return layer, inputs
    symbolic = keras.tree.map_structure(
        lambda array: keras.Input(shape=array.shape[1:], dtype=str(array.dtype)), inputs
    )
    model = keras.Model(keras.tree.flatten(symbolic), layer(*symbolic))
    return model, (keras.tree.flatten(inputs),)


def _assert_all_close(actual, expected, what, atol=1e-6):
    actual, expected = keras.tree.flatten(actual), keras.tree.flatten(expected)
    assert len(actual) == len(expected), what
    for a, b in zip(actual, expected):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(keras.ops.cast(a, "float32")),
            keras.ops.convert_to_numpy(keras.ops.cast(b, "float32")),
            rtol=atol, atol=atol, err_msg=what,
        )


# -- TF Serving's C++ model server ----------------------------------------------


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tf_model_server(model_name, model_base_path):
    """Runs `tensorflow_model_server` (TF Serving) on `model_base_path` while in the block.

    Waits (up to about a minute) until the model answers AVAILABLE, and stops
    the server on leaving the block.

    Yields:
        The model's REST URL, `http://127.0.0.1:PORT/v1/models/NAME`.
    """
    port = free_port()
    server = subprocess.Popen([
        "tensorflow_model_server", f"--rest_api_port={port}", "--port=0",
        f"--model_name={model_name}", f"--model_base_path={model_base_path}",
    ])
    try:
        url = f"http://127.0.0.1:{port}/v1/models/{model_name}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if b"AVAILABLE" in response.read():
                        break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def write_two_class_csv(path, positive_words, negative_words, rows=16):
    """A tiny `text,label` CSV alternating `neg` and `pos` rows built from the given words.

    Row i is "the movie was W,pos" (W cycling through `positive_words`) for odd
    i, else "the film was W,neg"; returns `path` as a str.
    """
    lines = [
        f"the movie was {positive_words[i % len(positive_words)]},pos" if i % 2
        else f"the film was {negative_words[i % len(negative_words)]},neg"
        for i in range(rows)
    ]
    path.write_text("text,label\n" + "\n".join(lines) + "\n")
    return str(path)
