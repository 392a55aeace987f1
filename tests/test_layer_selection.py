"""Layer selection (`AdapterConfig.layers`) that really cuts the backward pass.

`layers` takes block indices, "top:K", "bottom:K" or "all", kept symbolic in
the config and its files and resolved against each backbone; with `layers`
set, only the selected blocks train (their adapters and, with
`train_layer_norms`, their own layer norms), so no gradient has to reach the
blocks below the lowest selected one.
"""

import json
import re

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_adapters import AdapterConfig, add_adapters, load_adapters, save_adapters
from keras_adapters.config import layers_label, parse_layers, resolve_layer_selection
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.surgery.layer_count import lowest_trainable_block, num_adaptable_blocks
from keras_adapters.tasks import PooledTextClassifier

from helpers import SEQ, bert, gpt2, inputs_for

# -- parsing and resolution ----------------------------------------------------


@pytest.mark.parametrize(
    "spec, parsed",
    [
        (None, None),
        ("all", None),
        (" ALL ", None),
        ("top:3", "top:3"),
        ("bottom : 02", "bottom:2"),
        ("3,4,5", (3, 4, 5)),  # the CLI form
        (" 5, 3 ", (5, 3)),
        (2, (2,)),
        ([4, 1], (4, 1)),
        ((0,), (0,)),
        (np.int64(1), (1,)),
    ],
)
def test_layer_selections_parse_to_one_form(spec, parsed):
    assert parse_layers(spec) == parsed
    assert AdapterConfig(layers=spec).layers == parsed


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("top:0", "K must be at least 1"),
        ("bottom:-1", "integer K"),
        ("top:", "integer K"),
        ("middle:2", "integer K"),
        ("middle", "not a known word"),
        ("3,,4", "not a known word"),
        ("", "not a known word"),
        ("-1", "not a known word"),
        ([], "empty"),
        ([-1], ">= 0"),
        ([1, 1], "at most once"),
        ("2,2", "at most once"),
        ([True], "not an integer"),
        ([1.0], "not an integer"),
        (2.5, "float is not a layer selection"),
    ],
)
def test_invalid_selections_say_what_is_allowed(spec, problem):
    with pytest.raises(KerasAdaptersError, match=re.escape(problem) + ".*Allowed: None or 'all'"):
        parse_layers(spec)
    with pytest.raises(KerasAdaptersError, match="`layers`"):
        AdapterConfig(layers=spec)


def test_selections_resolve_against_the_number_of_blocks():
    assert resolve_layer_selection("top:2", 4) == (2, 3)
    assert resolve_layer_selection("bottom:2", 4) == (0, 1)
    assert resolve_layer_selection("top:4", 4) == (0, 1, 2, 3)
    assert resolve_layer_selection(None, 3) == (0, 1, 2)
    assert resolve_layer_selection("3,1", 4) == (1, 3)
    config = AdapterConfig(layers="top:3")
    assert config.resolve_layers(6) == (3, 4, 5) and config.resolve_layers(12) == (9, 10, 11)
    with pytest.raises(KerasAdaptersError, match="'top:5': it asks for 5 layers; the backbone has 4 "
                                                 "transformer blocks.*K from 1 to 4"):
        config.replace(layers="top:5").resolve_layers(4)
    with pytest.raises(KerasAdaptersError, match=r"`layers`: got \[4\].*indices 0\.\.3"):
        resolve_layer_selection([1, 4], 4)
    # Labels are what the tuner and the CLI show; they parse back.
    for spec in (None, "top:2", "bottom:1", [3, 1]):
        assert parse_layers(layers_label(spec)) == (
            tuple(sorted(spec)) if isinstance(spec, list) else parse_layers(spec))


def test_bart_counts_encoder_and_decoder_blocks_and_freezes_below_the_selection():
    bart = keras_hub.models.BartBackbone(
        vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=SEQ,
    )
    assert num_adaptable_blocks(bart) == 4
    adapted = add_adapters(bart, "houlsby", bottleneck_size=2, layers="top:2")
    assert adapted.get_adapter_config("default").layers == "top:2"
    # The top two blocks are the decoder's: the encoder and both embeddings stay frozen.
    assert sorted({i for i, _, _ in adapted.adapter_layers("default")}) == [2, 3]
    assert lowest_trainable_block(adapted) == 2
    trainable = {id(w) for w in adapted.trainable_weights}
    assert trainable and all(id(w) not in trainable for block in adapted.encoder_transformer_layers
                             for w in block.weights)
    for name in ("encoder_embeddings_layer_norm", "decoder_embeddings_layer_norm"):
        assert not adapted.get_layer(name).trainable_weights, name
    assert all(block._cross_attention_layer_norm.trainable_weights  # a decoder block's own norms
               for block in adapted.decoder_transformer_layers)
    with pytest.raises(KerasAdaptersError, match="asks for 5 layers; the backbone has 4 transformer blocks"):
        add_adapters(bart, "houlsby", bottleneck_size=2, layers="top:5")


# -- serialization ---------------------------------------------------------------


def test_symbolic_selection_survives_dict_json_and_saved_adapter_files(tmp_path):
    config = AdapterConfig.get("houlsby", layers="top:2", bottleneck_size=4)
    data = config.to_dict()
    assert data["layers"] == "top:2"  # written as given, valid for any depth
    assert AdapterConfig.from_dict(json.loads(json.dumps(data))) == config
    assert AdapterConfig.from_json(config.to_json()) == config
    assert AdapterConfig(layers="all").to_dict()["layers"] is None
    assert AdapterConfig(layers="2,0").to_dict()["layers"] == [2, 0]
    # A version-1 file (indices or null) loads unchanged.
    old = dict(data, layers=[0, 3], format_version=1)
    assert AdapterConfig.from_dict(old).layers == (0, 3)

    base = bert(num_layers=4)
    trained = add_adapters(base, config, name="task")
    for w in trained.adapter_weights("task"):
        w.assign(np.full(w.shape, 0.25, "float32"))
    path = save_adapters(trained, str(tmp_path / "task"))
    with open(f"{path}/adapter_config.json") as f:
        assert json.load(f)["adapter_config"]["layers"] == "top:2"
    fresh = add_adapters(base, config=path, name="task")
    load_adapters(fresh, path, name="task")
    assert fresh.get_adapter_config("task") == config
    assert sorted({i for i, _, _ in fresh.adapter_layers("task")}) == [2, 3]
    assert lowest_trainable_block(fresh) == 2
    for w in fresh.adapter_weights("task"):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), 0.25)


# -- what trains -----------------------------------------------------------------


def _trainable_norms(backbone):
    return sorted(layer.path for layer in backbone.layer_norm_layers() if layer.trainable_weights)


def test_top_k_through_the_public_api_trains_only_the_top_blocks():
    """`AdapterConfig.get("houlsby", layers="top:2")` on a 4-block BERT."""
    base = bert(num_layers=4)
    backbone = add_adapters(base, AdapterConfig.get("houlsby", layers="top:2", bottleneck_size=4))
    blocks = backbone.transformer_blocks
    trainable = {id(w) for w in backbone.trainable_weights}
    for block in blocks[:2]:  # no weight of a block below the lowest adapted block trains
        assert not any(id(w) in trainable for w in block.weights), block.name
    assert not backbone.get_layer("embeddings_layer_norm").trainable_weights
    assert not any(id(w) in trainable for w in backbone.get_layer("token_embedding").weights)
    assert _trainable_norms(backbone) == [
        f"transformer_layer_{i}/{norm}" for i in (2, 3)
        for norm in ("feedforward_layer_norm", "self_attention_layer_norm")
    ]
    # Only adapters and the two blocks' norms: 2 adapters x 2 blocks x (2 x 16 x 4 + 4 + 16),
    # 2 norms x 2 blocks x 32.
    assert sum(int(np.prod(w.shape)) for w in backbone.trainable_weights) == 4 * 148 + 4 * 32
    assert lowest_trainable_block(backbone) == 2

    # An embedding adapter brings the embedding layer norm (and the embeddings' input) back.
    with_embedding = add_adapters(base, "houlsby", bottleneck_size=4, layers="top:2",
                                  placements=("feedforward", "embedding"))
    assert "embeddings_layer_norm" in _trainable_norms(with_embedding)
    assert lowest_trainable_block(with_embedding) is None
    # layers=None: as before, every layer norm trains, embedding norm included.
    everywhere = add_adapters(base, "houlsby", bottleneck_size=4)
    assert len(_trainable_norms(everywhere)) == len(everywhere.layer_norm_layers()) == 9
    assert lowest_trainable_block(everywhere) is None
    assert lowest_trainable_block(base) is None  # full fine-tuning
    assert lowest_trainable_block(add_adapters(base, "pfeiffer", layers=[1], bottleneck_size=4)) == 1


def test_final_layer_norm_of_pre_ln_models_belongs_to_the_last_block():
    base = gpt2()  # 2 blocks
    assert "layer_norm" in _trainable_norms(add_adapters(base, "houlsby", bottleneck_size=4))
    top = add_adapters(base, "houlsby", bottleneck_size=4, layers="top:1")
    assert _trainable_norms(top) == ["layer_norm", "transformer_layer_1/feedforward_layer_norm",
                                     "transformer_layer_1/self_attention_layer_norm"]
    bottom = add_adapters(base, "houlsby", bottleneck_size=4, layers="bottom:1")
    assert "layer_norm" not in _trainable_norms(bottom)
    assert lowest_trainable_block(top) == 1 and lowest_trainable_block(bottom) == 0


def test_union_of_trainable_adapters_and_verbs_through_fit():
    backbone = add_adapters(bert(num_layers=3), "pfeiffer", name="top", layers="top:1",
                            bottleneck_size=2, train_layer_norms=True)
    backbone.add_adapter("low", "pfeiffer", layers=[1], bottleneck_size=2, train_layer_norms=True)
    backbone.add_adapter("frozen_norms", "pfeiffer", layers=[0], bottleneck_size=2)
    backbone.train_adapter(["top", "low", "frozen_norms"])
    assert {p.split("/")[0] for p in _trainable_norms(backbone)} == {"transformer_layer_1",
                                                                   "transformer_layer_2"}
    assert lowest_trainable_block(backbone) == 0  # block 0 holds the adapter "frozen_norms"
    backbone.set_trainable_adapters("top")
    assert {p.split("/")[0] for p in _trainable_norms(backbone)} == {"transformer_layer_2"}

    # Through Keras' compiled train_function: after switching to "low", fit trains block 1's
    # norms and leaves block 2's (and the old adapter) alone.
    model = PooledTextClassifier(backbone, 2)
    data = (inputs_for(backbone, batch=8), np.arange(8) % 2)

    def compile_and_fit():
        model.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(*data, epochs=1, batch_size=8, verbose=0)

    compile_and_fit()
    blocks = backbone.transformer_blocks
    block1_norm, block2_norm = (blocks[i]._feedforward_layer_norm.gamma for i in (1, 2))
    before = [keras.ops.convert_to_numpy(v) for v in (block1_norm, block2_norm)]
    top_before = [keras.ops.convert_to_numpy(w) for w in backbone.adapter_weights("top")]
    backbone.train_adapter("low")
    compile_and_fit()
    assert np.abs(keras.ops.convert_to_numpy(block1_norm) - before[0]).max() > 0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(block2_norm), before[1])
    for w, old in zip(backbone.adapter_weights("top"), top_before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), old)


# -- the backward pass stops at the lowest adapted block ---------------------------


def _live_gradient_ops(model, data):
    """Names of the gradient ops a traced train step runs.

    Keras' `trainable` flag does not reach the underlying `tf.Variable`, so
    the tape records the frozen blocks too and the traced graph holds
    gradient ops for them; the runtime prunes those whose results nothing
    uses. What runs is what the outputs and the stateful ops (the
    optimizer's updates: the graph's control outputs) depend on.
    """
    graph = tf.function(model.train_step).get_concrete_function(data).graph
    live, stack = set(), [t.op for t in graph.outputs] + list(graph.control_outputs)
    while stack:
        op = stack.pop()
        if op.name not in live:
            live.add(op.name)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    return [name for name in live if name.startswith("gradient_tape/")]


def _count_in_scope(names, layer_name):
    scope = re.compile(rf"/{re.escape(layer_name)}(_\d+)?/")
    return sum(1 for name in names if scope.search(name))


def test_no_gradient_is_computed_for_blocks_below_the_lowest_adapted_block():
    backbone = add_adapters(bert(num_layers=3), "houlsby", layers="top:1", bottleneck_size=2)
    model = PooledTextClassifier(backbone, 2)
    model.compile(optimizer="sgd", jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = (inputs_for(backbone), np.zeros((4,), "int32"))
    gradients = _live_gradient_ops(model, data)
    per_block = [_count_in_scope(gradients, block.name) for block in backbone.transformer_blocks]
    assert per_block[0] == per_block[1] == 0 < per_block[2], per_block
    assert _count_in_scope(gradients, "embeddings_layer_norm") == 0

    # The check sees a cut that is not there: training the embedding layer norm, as the
    # houlsby preset did with any `layers`, sends gradients through every block.
    backbone.get_layer("embeddings_layer_norm").trainable = True
    model.compile(optimizer="sgd", jit_compile=False,  # an optimizer for the new weights
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    gradients = _live_gradient_ops(model, data)
    assert all(_count_in_scope(gradients, block.name) > 0 for block in backbone.transformer_blocks)
