"""Many adapters on one backbone: management verbs and composition blocks."""

import copy
import json
import os

import keras
import keras_hub
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_adapters import add_adapters, count_parameters
from keras_adapters.composition import (
    AdapterSetup,
    Average,
    BatchSplit,
    Fuse,
    Parallel,
    Stack,
    fusion_key,
    fusion_name,
    parse_setup,
    setup_config,
    setup_names,
)
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_slot import AdapterSlot

from helpers import bert, inputs_for, output_of


def _randomize(backbone, name, seed):
    rng = np.random.default_rng(seed)
    for w in backbone.adapter_weights(name):
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))


@pytest.fixture
def two_tasks():
    """A backbone with adapters "a" and "b" (random weights), a copy of its base, inputs."""
    base = bert()
    backbone = add_adapters(base, "pfeiffer", name="a", bottleneck_size=4)
    backbone.add_adapter("b", "pfeiffer", bottleneck_size=4)
    _randomize(backbone, "a", 1)
    _randomize(backbone, "b", 2)
    return backbone, base, inputs_for(base)


def _output_with(backbone, setup, x):
    backbone.set_active_adapters(setup)
    return output_of(backbone, x)


def test_add_list_activate_deactivate_delete(two_tasks):
    backbone, base, x = two_tasks
    assert backbone.adapter_names == ("a", "b")
    assert backbone.active_adapters == ("a",)  # add_adapter does not activate
    out_a = _output_with(backbone, "a", x)
    out_b = _output_with(backbone, "b", x)
    assert np.abs(out_a - out_b).max() > 1e-3
    np.testing.assert_array_equal(_output_with(backbone, None, x), output_of(base, x))
    with pytest.raises(ValueError, match="Unknown adapter name.*'c'"):
        backbone.set_active_adapters(["a", "c"])
    backbone.set_active_adapters("a")
    backbone.set_trainable_adapters("a")
    before = count_parameters(backbone).total
    with pytest.raises(ValueError, match="active or trainable"):
        backbone.delete_adapter("a")
    backbone.delete_adapter("b")
    assert backbone.adapter_names == ("a",)
    assert count_parameters(backbone).total == before - 2 * (16 * 4 + 4 + 4 * 16 + 16)
    assert not any("/b/" in w.path for w in backbone.weights)


def test_train_adapter_freezes_everything_else(two_tasks):
    backbone, _, _ = two_tasks
    backbone.train_adapter("b")
    assert backbone.active_adapters == ("b",)
    paths = {w.path for w in backbone.trainable_weights}
    assert paths == {w.path for w in backbone.adapter_weights("b")}
    backbone.set_active_adapters(Stack("a", "b"))
    backbone.train_adapter("b")  # already in the stack: the stack stays active
    assert backbone.active_adapters == ("a", "b")


def test_stack_applies_adapters_in_order(two_tasks):
    backbone, _, x = two_tasks
    backbone.add_adapter("zero", "pfeiffer", bottleneck_size=4, initialization="zero_up")
    np.testing.assert_array_equal(
        _output_with(backbone, Stack("a", "zero"), x), _output_with(backbone, "a", x)
    )
    ab, ba = _output_with(backbone, ["a", "b"], x), _output_with(backbone, ["b", "a"], x)
    assert np.abs(ab - ba).max() > 1e-4  # order matters


def test_average_of_outputs():
    slot_backbone = add_adapters(bert(num_layers=1), "pfeiffer", name="a", bottleneck_size=4)
    slot_backbone.add_adapter("b", "pfeiffer", bottleneck_size=4)
    _randomize(slot_backbone, "a", 1)
    _randomize(slot_backbone, "b", 2)
    slot = slot_backbone.transformer_layers[0]._feedforward_dropout
    h = np.random.default_rng(0).normal(size=(2, 8, 16)).astype("float32")
    expected = 0.25 * slot.adapters["a"](h) + 0.75 * slot.adapters["b"](h)
    slot_backbone.set_active_adapters(Average("a", "b", weights=[0.25, 0.75]))
    np.testing.assert_allclose(slot(h, training=False), expected, rtol=1e-5, atol=1e-5)
    x = inputs_for(slot_backbone)
    np.testing.assert_array_equal(
        _output_with(slot_backbone, Average("a", "b", weights=[1.0, 0.0]), x),
        _output_with(slot_backbone, "a", x),
    )
    with pytest.raises(ValueError, match="sum to 1"):
        Average("a", "b", weights=[0.5, 0.6])


def test_batch_split_routes_rows(two_tasks):
    backbone, _, x = two_tasks
    out_a = _output_with(backbone, "a", x)
    out_b = _output_with(backbone, "b", x)
    split = _output_with(backbone, BatchSplit("a", "b", batch_sizes=[1, 3]), x)
    np.testing.assert_allclose(split[:1], out_a[:1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(split[1:], out_b[1:], rtol=1e-5, atol=1e-5)


def test_parallel_runs_every_example_through_every_adapter(two_tasks):
    backbone, _, x = two_tasks
    out_a = _output_with(backbone, "a", x)
    out_b = _output_with(backbone, "b", x)
    both = _output_with(backbone, Parallel("a", "b"), x)
    assert both.shape[0] == 2 * out_a.shape[0]
    np.testing.assert_allclose(both[:4], out_a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(both[4:], out_b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="Parallel is only allowed"):
        backbone.set_active_adapters(Stack("a", Parallel("a", "b")))


def test_fusion_trains_only_fusion_layers(two_tasks):
    backbone, _, x = two_tasks
    with pytest.raises(ValueError, match="add_fusion"):
        backbone.set_active_adapters(Fuse("a", "b"))
    backbone.add_fusion(Fuse("a", "b"))
    backbone.train_fusion(Fuse("a", "b"))
    assert backbone.active_adapters == Fuse("a", "b")
    trainable = {w.path for w in backbone.trainable_weights}
    assert trainable and all("/a_b/" in p for p in trainable)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-2),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    adapters_before = [w.numpy().copy() for n in "ab" for w in backbone.adapter_weights(n)]
    fusion_before = [w.numpy().copy() for _, _, f in backbone.fusion_layers("a+b") for w in f.weights]
    classifier.fit(x, np.array([0, 1, 0, 1]), epochs=2, verbose=0)
    for before, w in zip(adapters_before, [w for n in "ab" for w in backbone.adapter_weights(n)]):
        np.testing.assert_array_equal(before, w.numpy())
    fusion_after = [w.numpy() for _, _, f in backbone.fusion_layers("a+b") for w in f.weights]
    assert any(not np.array_equal(b, a) for b, a in zip(fusion_before, fusion_after))


def test_fusion_needs_adapters_in_the_same_places():
    backbone = add_adapters(bert(), "pfeiffer", name="a", bottleneck_size=4)
    backbone.add_adapter("b", "pfeiffer", bottleneck_size=4, layers=[1])
    with pytest.raises(ValueError, match="different blocks or branches"):
        backbone.add_fusion(Fuse("a", "b"))
    with pytest.raises(ValueError, match="two or more adapter names"):
        Fuse("a")


def test_setup_and_fusions_survive_keras_round_trip(two_tasks, tmp_path):
    backbone, _, x = two_tasks
    backbone.add_fusion(Fuse("a", "b"))
    backbone.set_active_adapters(Stack("b", Fuse("a", "b")))
    inputs = backbone.input
    model = keras.Model(inputs, backbone(inputs)["sequence_output"])
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras").get_layer(backbone.name)
    assert restored.active_adapters == Stack("b", Fuse("a", "b"))
    assert restored.fusion_names == ("a+b",)
    np.testing.assert_allclose(output_of(restored, x), expected, rtol=1e-6, atol=1e-6)


def test_active_adapters_is_always_a_block(two_tasks):
    backbone, _, _ = two_tasks
    backbone.add_fusion(Fuse("a", "b"))
    for setup, expected in [
        ("a", Stack("a")),
        (["a", "b"], Stack("a", "b")),
        (Stack("a", "b"), Stack("a", "b")),
        (Fuse("a", "b"), Fuse("a", "b")),
        (Average("a", "b"), Average("a", "b")),
        ({"type": "Stack", "children": ["b", {"type": "Fuse", "children": ["a", "b"]}]}, Stack("b", Fuse("a", "b"))),
    ]:
        backbone.set_active_adapters(setup)
        assert isinstance(backbone.active_adapters, AdapterSetup) and backbone.active_adapters == expected
    backbone.set_active_adapters(["b", "a"])
    assert backbone.active_adapters == ("b", "a") and list(backbone.active_adapters) == ["b", "a"]
    backbone.set_active_adapters(None)
    assert backbone.active_adapters is None


def test_a_stack_equals_the_list_of_its_children_and_nothing_else():
    assert Stack("a", "b") == ["a", "b"] == Stack("a", "b") and Stack("a") == ("a",)
    assert Stack("a", Fuse("b", "c")) == ["a", Fuse("b", "c")]
    assert Stack("a", "b") != ("b", "a") and Stack("a") != () and Stack("a") != [None]
    assert Fuse("a", "b") != ("a", "b") and Parallel("a", "b") != ["a", "b"]
    assert len(Average("a", "b")) == 2 and Fuse("a", "b")[1] == "b"


def test_fusion_key_and_its_string_form():
    for form in ("a+b", ["a", "b"], ("a", "b"), Fuse("a", "b")):
        assert fusion_key(form) == ("a", "b")
    assert fusion_name(("lang.en", "task-1")) == "lang.en+task-1"
    assert fusion_key(fusion_name(("x", "y", "z"))) == ("x", "y", "z")
    for bad in ("a", "a+", ["a"], ["a+b", "c"], ["a", 1], 3, None):
        with pytest.raises(KerasAdaptersError, match="Invalid fusion"):
            fusion_key(bad)


def test_fusions_are_keyed_by_tuples_and_written_as_lists(two_tasks):
    backbone, _, _ = two_tasks
    backbone.add_fusion(Fuse("a", "b"))
    backbone.train_fusion(Fuse("a", "b"))
    assert backbone.fusions == (("a", "b"),) and backbone.fusion_names == ("a+b",)
    layers = backbone.fusion_layers(("a", "b"))
    assert len(layers) == 2  # 2 blocks, feed-forward branch only (pfeiffer)
    assert backbone.fusion_layers("a+b") == layers == backbone.fusion_layers(Fuse("a", "b"))
    with pytest.raises(KerasAdaptersError, match="Unknown fusion 'b\\+a'"):
        backbone.fusion_layers(("b", "a"))
    config = backbone.get_config()
    assert config["fusions"] == [["a", "b"]] and config["trainable_fusions"] == [["a", "b"]]
    slot = backbone.transformer_layers[0]._feedforward_dropout
    assert list(slot.fusions) == [("a", "b")]
    slot_config = json.loads(json.dumps(slot.get_config()))
    assert list(slot_config["fusions"]) == ["a+b"]  # JSON object keys are strings
    assert list(AdapterSlot.from_config(slot_config).fusions) == [("a", "b")]
    backbone.set_active_adapters(None)
    with pytest.raises(ValueError, match="part of fusion.*'a\\+b'"):
        backbone.delete_adapter("a")


def test_fused_backbone_exports_as_saved_model(tmp_path):
    # TensorFlow's SavedModel cannot save layers held in a dict with tuple
    # keys: the slots must keep fusion layers where it can.
    import tensorflow as tf

    backbone = add_adapters(bert(num_layers=1), "pfeiffer", name="a", bottleneck_size=2)
    backbone.add_adapter("b", "pfeiffer", bottleneck_size=2)
    backbone.add_fusion(Fuse("a", "b"))
    backbone.set_active_adapters(Fuse("a", "b"))
    model = keras.Model(backbone.input, backbone(backbone.input)["sequence_output"])
    model.export(str(tmp_path / "saved_model"), verbose=False)
    x = inputs_for(backbone)
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    np.testing.assert_allclose(loaded.serve(x).numpy(), output_of(backbone, x), atol=1e-5)


# Written by the code before fusions were keyed by tuples (trainable_fusions
# ["a+b"]): a 1-layer test BERT with adapters "a", "b" and their fusion, all
# random, fusion trainable, active Stack("b", Fuse("a", "b")); the .npz holds
# inputs and the expected sequence output.
FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "fusion_a_plus_b_v1")


def test_keras_file_with_string_fusion_names_still_loads():
    backbone = keras.saving.load_model(FIXTURE + ".keras")
    assert backbone.fusions == (("a", "b"),)
    assert backbone.active_adapters == Stack("b", Fuse("a", "b"))
    fusion_weights = {w.path for _, _, f in backbone.fusion_layers("a+b") for w in f.weights}
    assert {w.path for w in backbone.trainable_weights} == fusion_weights
    data = dict(np.load(FIXTURE + ".npz"))
    expected = data.pop("expected")
    np.testing.assert_allclose(output_of(backbone, data), expected, rtol=1e-5, atol=1e-5)
    assert backbone.get_config()["trainable_fusions"] == [["a", "b"]]


def test_average_adapter_merges_weights_of_same_shape(two_tasks):
    backbone, _, x = two_tasks
    backbone.average_adapter("ab", ["a", "b"], weights=[0.25, 0.75])
    for merged, a, b in zip(*(backbone.adapter_weights(n) for n in ("ab", "a", "b"))):
        np.testing.assert_allclose(merged.numpy(), 0.25 * a.numpy() + 0.75 * b.numpy(), rtol=1e-6)
    _output_with(backbone, "ab", x)
    backbone.add_adapter("wide", "pfeiffer", bottleneck_size=8)
    with pytest.raises(ValueError, match="need the same shape"):
        backbone.average_adapter("bad", ["a", "wide"])
    with pytest.raises(ValueError, match="summing to 1"):
        backbone.average_adapter("bad", ["a", "b"], weights=[1.0, 1.0])


def test_average_adapter_compares_the_blocks_selected_not_how_they_were_written():
    backbone = add_adapters(bert(num_layers=4), "pfeiffer", name="top", bottleneck_size=4, layers="top:2")
    backbone.add_adapter("listed", "pfeiffer", bottleneck_size=4, layers=[2, 3])
    _randomize(backbone, "top", 1)
    _randomize(backbone, "listed", 2)
    backbone.average_adapter("mean", ["top", "listed"])  # the same blocks: 2 and 3
    assert [index for index, _, _ in backbone.adapter_layers("mean")] == [2, 3]
    for merged, top, listed in zip(*(backbone.adapter_weights(n) for n in ("mean", "top", "listed"))):
        np.testing.assert_allclose(merged.numpy(), 0.5 * (top.numpy() + listed.numpy()), rtol=1e-6)
    backbone.add_adapter("lower", "pfeiffer", bottleneck_size=4, layers=[1, 2])
    with pytest.raises(KerasAdaptersError, match=r"differ in \['layers'\]"):
        backbone.average_adapter("bad", ["top", "lower"])


# -- property-based: the setup grammar (pure Python, no backbone) -------------

NAMES = st.sampled_from(["a", "b", "c", "lang.en", "task-1"])


def _weights(count):
    """`count` positive weights summing to 1."""
    return st.lists(st.integers(1, 9), min_size=count, max_size=count).map(lambda ks: [k / sum(ks) for k in ks])


def _blocks(children):
    child_lists = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        child_lists.map(lambda c: Stack(*c)),
        child_lists.map(lambda c: Parallel(*c)),
        child_lists.flatmap(lambda c: _weights(len(c)).map(lambda w: Average(*c, weights=w))),
        child_lists.flatmap(
            lambda c: st.lists(st.integers(0, 4), min_size=len(c), max_size=len(c)).map(
                lambda sizes: BatchSplit(*c, batch_sizes=sizes)
            )
        ),
        st.lists(NAMES, min_size=2, max_size=3).map(lambda n: Fuse(*n)),
    )


SETUPS = st.recursive(NAMES, _blocks, max_leaves=8)


def _leaf_names(config):
    if isinstance(config, str):
        return [config]
    return [name for child in config["children"] for name in _leaf_names(child)]


@settings(max_examples=50, deadline=None)
@given(SETUPS)
def test_valid_setups_round_trip_through_json_config(setup):
    config = setup_config(setup)
    assert json.loads(json.dumps(config)) == config  # JSON-compatible
    assert parse_setup(json.loads(json.dumps(config))) == setup
    assert setup_config(parse_setup(config)) == config
    names = setup_names(setup)
    assert len(names) == len(set(names)) and set(names) == set(_leaf_names(config))
    if isinstance(setup, Stack) and all(isinstance(c, str) for c in setup.children):
        assert parse_setup(list(setup.children)) == (setup.children[0] if len(setup.children) == 1 else setup)


def _dict_nodes(config):
    if isinstance(config, str):
        return []
    return [config] + [node for child in config["children"] for node in _dict_nodes(child)]


# Each corrupts one block config in a way the grammar forbids.
CORRUPTIONS = {
    "no children": lambda node: node.pop("children"),
    "children not a list": lambda node: node.update(children="ab"),
    "no children at all": lambda node: node.update(children=[]),
    "None child": lambda node: node["children"].append(None),
    "empty list child": lambda node: node["children"].append([]),
    "number child": lambda node: node["children"].append(3),
    "unknown key": lambda node: node.update(colour="red"),
    "unknown type": lambda node: node.update(type="Shuffle"),
    "type not a string": lambda node: node.update(type=["Stack"]),
    "weights not summing to 1": lambda node: node.update(type="Average", weights=[2.0] * len(node["children"])),
    "NaN weight": lambda node: node.update(type="Average", weights=[float("nan")] * len(node["children"])),
    "weight not a number": lambda node: node.update(type="Average", weights=["1"] * len(node["children"])),
    "weights not a list": lambda node: node.update(type="Average", weights=1.0),
    "one weight too many": lambda node: node.update(
        type="Average", weights=[1.0 / (len(node["children"]) + 1)] * (len(node["children"]) + 1)
    ),
    "negative batch size": lambda node: node.update(type="BatchSplit", batch_sizes=[-1] * len(node["children"])),
    "fractional batch size": lambda node: node.update(type="BatchSplit", batch_sizes=[1.5] * len(node["children"])),
    "batch sizes missing": lambda node: node.update(type="BatchSplit"),
    "nested block in Fuse": lambda node: node.update(type="Fuse", children=["a", {"type": "Stack", "children": ["b"]}]),
    "Fuse of one": lambda node: node.update(type="Fuse", children=["a"]),
}


def _strip_arguments(node):
    # Drop block-specific keys so that a corruption changing "type" is the
    # only fault (an Average's weights on a BatchSplit would be one more).
    for key in ("weights", "batch_sizes"):
        node.pop(key, None)


@settings(max_examples=50, deadline=None)
@given(setup=SETUPS.filter(lambda s: not isinstance(s, str)), corruption=st.sampled_from(sorted(CORRUPTIONS)),
       data=st.data())
def test_invalid_setups_give_one_clear_value_error(setup, corruption, data):
    config = copy.deepcopy(setup_config(setup))
    node = data.draw(st.sampled_from(_dict_nodes(config)))
    if corruption in ("weights not summing to 1", "NaN weight", "weight not a number", "weights not a list",
                      "one weight too many", "negative batch size", "fractional batch size",
                      "batch sizes missing"):
        _strip_arguments(node)
    CORRUPTIONS[corruption](node)
    with pytest.raises(KerasAdaptersError) as error:
        parse_setup(config)
    message = str(error.value)
    assert message and "\n" not in message


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4) | NAMES,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["type", "children", "weights", "batch_sizes", "x"]), children, max_size=4),
        st.fixed_dictionaries({"type": st.sampled_from(["Stack", "Average", "Fuse", "BatchSplit", "Parallel"]),
                               "children": children}),
    ),
    max_leaves=10,
)


@settings(max_examples=50, deadline=None)
@given(JSON_VALUES)
def test_arbitrary_json_is_a_setup_or_a_keras_adapters_error(value):
    try:
        setup = parse_setup(value)
    except KerasAdaptersError as error:
        assert str(error) and "\n" not in str(error)
        return
    # Whatever parses is a real setup and round-trips.
    assert setup is None or isinstance(setup, (str, AdapterSetup))
    assert parse_setup(setup_config(setup)) == setup
