"""LoRA, (IA)^3 and parallel adapters: named like bottleneck adapters, on the same machinery.

Identity at initialisation, training of only the right weights, switching by
name through compiled paths, save/load, merging, composition rules, export.
"""

import keras
import keras_hub
import numpy as np
import pytest

from keras_adapters import AdapterConfig, add_adapters, load_adapters, save_adapters
from keras_adapters.composition import Average, BatchSplit, Fuse, Stack
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import check_export, export_saved_model
from keras_adapters.tasks import PooledTextClassifier

from helpers import bert, gpt2, inputs_for, output_of

# Both sublayers for the parallel adapter: the attention one reads the
# query projection's input, the feed-forward one the intermediate's.
KINDS = {
    "lora": AdapterConfig.get("lora", rank=2, targets=("query", "value", "ffn_output")),
    "ia3": AdapterConfig.get("ia3"),
    "parallel": AdapterConfig.get("parallel", placements=("attention", "feedforward")),
}


def _randomize(backbone, name, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    for w in backbone.adapter_weights(name):
        # (IA)^3 vectors around one, the others around zero.
        center = 1.0 if w.name == "scale" else 0.0
        w.assign((center + rng.normal(scale=scale, size=w.shape)).astype("float32"))


def _values(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def _graph_ops(model, inputs):
    """The op types (with counts) of `model`'s inference graph."""
    import collections

    import tensorflow as tf

    specs = {key: tf.TensorSpec(value.shape, value.dtype) for key, value in inputs.items()}
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs).graph
    return collections.Counter(op.type for op in graph.get_operations())


@pytest.mark.parametrize("family", [bert, gpt2], ids=["bert", "gpt2"])
def test_every_kind_starts_as_the_base_model_and_then_adapts(family):
    base = family(num_layers=1)
    x = inputs_for(base)
    reference = output_of(base, x)
    backbone = add_adapters(base, KINDS["lora"], name="lora")
    backbone.add_adapter("ia3", KINDS["ia3"])
    backbone.add_adapter("parallel", KINDS["parallel"])
    for name in KINDS:
        backbone.set_active_adapters(name)
        assert np.array_equal(output_of(backbone, x), reference), name  # exactly
        _randomize(backbone, name, seed=1)
        assert np.abs(output_of(backbone, x) - reference).max() > 1e-3, name  # it runs
    backbone.set_active_adapters(None)
    assert np.array_equal(output_of(backbone, x), reference)


def test_fit_changes_only_the_trained_adapter():
    base = bert(num_layers=1)
    backbone = add_adapters(base, KINDS["lora"], name="lora")
    backbone.add_adapter("ia3", KINDS["ia3"])
    backbone.add_adapter("parallel", KINDS["parallel"])
    backbone.add_adapter("bottleneck", "pfeiffer", bottleneck_size=4)
    _randomize(backbone, "lora", 5)  # B != 0: gradients reach A as well
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    x, y = inputs_for(base), np.array([0, 1, 0, 1])
    names = ("bottleneck", *KINDS)
    for name in names:
        backbone.train_adapter(name)
        assert {id(w) for w in backbone.trainable_weights} == {id(w) for w in backbone.adapter_weights(name)}
    # Stacked with the others, so that they run (and would change if trained).
    backbone.set_active_adapters(list(names))
    backbone.train_adapter("lora")
    model.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    own = backbone.adapter_weights("lora")
    others = [w for w in backbone.weights if not any(w is v for v in own)]  # the head trains too
    before_own, before_others = _values(own), _values(others)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert all(not np.array_equal(b, a) for b, a in zip(before_own, _values(own)))
    assert all(np.array_equal(b, a) for b, a in zip(before_others, _values(others)))


def test_switching_by_name_follows_through_compiled_predict():
    base = bert(num_layers=1)
    backbone = add_adapters(base, KINDS["lora"], name="a")
    backbone.add_adapter("b", KINDS["ia3"])
    for seed, name in enumerate("ab"):
        _randomize(backbone, name, seed)
    x = inputs_for(base)
    backbone.compile(jit_compile=False)

    def predicted():
        return backbone.predict(x, verbose=0)["sequence_output"]

    outputs = {}
    for name in ("a", "b"):
        backbone.set_active_adapters(name)
        outputs[name] = eager = output_of(backbone, x)
        np.testing.assert_allclose(predicted(), eager, atol=1e-5)
    assert np.abs(outputs["a"] - outputs["b"]).max() > 1e-3
    # One batch, rows routed to a LoRA task and an (IA)^3 task.
    backbone.set_active_adapters(BatchSplit("a", "b", batch_sizes=[2, 2]))
    split = predicted()
    np.testing.assert_allclose(split[:2], outputs["a"][:2], atol=1e-5)
    np.testing.assert_allclose(split[2:], outputs["b"][2:], atol=1e-5)


def test_saved_adapters_and_keras_files_round_trip(tmp_path):
    base = bert(num_layers=1)
    x = inputs_for(base)
    trained = add_adapters(base, KINDS["lora"], name="lora")
    trained.add_adapter("parallel", KINDS["parallel"])
    _randomize(trained, "lora", 1)
    _randomize(trained, "parallel", 2)
    trained.set_active_adapters(["lora", "parallel"])
    expected = output_of(trained, x)

    path = save_adapters(trained, tmp_path / "lora", name="lora")
    fresh = add_adapters(base, config=path, name="lora")
    load_adapters(fresh, path)
    trained.set_active_adapters("lora")
    np.testing.assert_allclose(output_of(fresh, x), output_of(trained, x), atol=1e-6)

    trained.set_active_adapters(["lora", "parallel"])
    trained.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert restored.adapter_names == ("lora", "parallel")
    assert restored.get_adapter_config("lora").kind == "lora"
    np.testing.assert_allclose(output_of(restored, x), expected, atol=1e-6)

    # The merged state is saved too.
    restored.set_active_adapters("lora")
    lora_only = output_of(restored, x)
    restored.merge_adapter("lora")
    restored.save(tmp_path / "merged.keras")
    merged = keras.saving.load_model(tmp_path / "merged.keras")
    assert merged.merged_adapter == "lora"
    np.testing.assert_allclose(output_of(merged, x), lora_only, atol=1e-5)


def test_merge_matches_unmerged_runs_plain_projections_and_unmerges():
    base = bert(num_layers=1)
    x = inputs_for(base)
    backbone = add_adapters(base, KINDS["lora"], name="lora")
    backbone.add_adapter("ia3", KINDS["ia3"])
    backbone.add_adapter("parallel", KINDS["parallel"])
    backbone.add_adapter("bottleneck", "pfeiffer", bottleneck_size=4)
    for seed, name in enumerate(("lora", "ia3", "parallel", "bottleneck")):
        _randomize(backbone, name, seed)
    backbone.compile(jit_compile=False)
    for name in ("lora", "ia3"):
        backbone.set_active_adapters(name)
        unmerged = output_of(backbone, x)
        backbone.merge_adapter(name)
        np.testing.assert_allclose(output_of(backbone, x), unmerged, atol=1e-5)
        if name == "lora":
            # Served cost: op for op the base model's graph (no LoRA matmuls left).
            assert _graph_ops(backbone, x) == _graph_ops(base, x)
        np.testing.assert_allclose(backbone.predict(x, verbose=0)["sequence_output"], unmerged, atol=1e-5)
        # The merged copies run, not the adapter: changing it changes nothing.
        saved = _values(backbone.adapter_weights(name))
        _randomize(backbone, name, seed=9)
        np.testing.assert_allclose(output_of(backbone, x), unmerged, atol=1e-5)
        with pytest.raises(KerasAdaptersError, match="unmerge_adapter"):
            backbone.set_active_adapters("bottleneck")
        with pytest.raises(KerasAdaptersError, match="unmerge_adapter"):
            backbone.train_adapter(name)
        backbone.unmerge_adapter()
        assert np.abs(output_of(backbone, x) - unmerged).max() > 1e-3
        for variable, value in zip(backbone.adapter_weights(name), saved):
            variable.assign(value)
        np.testing.assert_allclose(output_of(backbone, x), unmerged, atol=1e-6)

    with pytest.raises(KerasAdaptersError, match="non-linear"):
        backbone.merge_adapter("parallel")
    backbone.set_active_adapters(BatchSplit("lora", "ia3", batch_sizes=[2, 2]))
    with pytest.raises(KerasAdaptersError, match="several adapters"):
        backbone.merge_adapter("lora")


def test_composition_rules_for_mixed_kinds():
    backbone = add_adapters(bert(num_layers=1), KINDS["lora"], name="lora")
    backbone.add_adapter("lora2", KINDS["lora"])
    backbone.add_adapter("bn", "pfeiffer", bottleneck_size=4)
    backbone.add_adapter("bn2", "pfeiffer", bottleneck_size=4)
    backbone.set_active_adapters(Stack("bn", "lora"))
    backbone.set_active_adapters(BatchSplit("bn", "lora", batch_sizes=[1, 3]))
    backbone.set_active_adapters(Average("lora", "lora2"))
    with pytest.raises(KerasAdaptersError, match="Average cannot mix adapter kinds"):
        backbone.set_active_adapters(Average("bn", "lora"))
    with pytest.raises(KerasAdaptersError, match="Fuse accepts bottleneck adapters only"):
        backbone.add_fusion(Fuse("bn", "lora"))
    with pytest.raises(KerasAdaptersError, match="average_adapter averages bottleneck"):
        backbone.average_adapter("mean", ["lora", "lora2"])


def test_deleting_the_last_projection_adapter_restores_the_plain_layout():
    base = bert(num_layers=1)
    backbone = add_adapters(base, "pfeiffer", name="bn", bottleneck_size=4)
    layout = [w.path for w in backbone.weights]
    slots = [placement for _, placement, _ in backbone.adapter_slots()]
    backbone.add_adapter("p", KINDS["parallel"])
    backbone.add_adapter("l", KINDS["lora"])
    assert len(backbone.adapter_slots()) > len(slots)
    backbone.delete_adapter("p")
    backbone.delete_adapter("l")
    assert [w.path for w in backbone.weights] == layout
    assert [placement for _, placement, _ in backbone.adapter_slots()] == slots


def test_config_kinds_validate_and_old_files_load():
    old = AdapterConfig.get("houlsby").to_dict()
    for field in ("kind", "rank", "alpha", "targets"):
        del old[field]
    old["format_version"] = 2
    assert AdapterConfig.from_dict(old).kind == "bottleneck"
    for preset in ("parallel", "lora", "ia3"):
        config = AdapterConfig.get(preset)
        assert AdapterConfig.from_dict(config.to_dict()) == config
    with pytest.raises(KerasAdaptersError, match="does not apply to kind 'lora'"):
        AdapterConfig.get("lora", bottleneck_size=8)
    with pytest.raises(KerasAdaptersError, match="does not apply to kind 'bottleneck'"):
        AdapterConfig(rank=4)
    with pytest.raises(KerasAdaptersError, match="Allowed for kind 'ia3'"):
        AdapterConfig.get("ia3", targets=["query"])
    with pytest.raises(KerasAdaptersError, match="`kind`"):
        AdapterConfig(kind="prefix")


def test_merged_lora_export_passes_check_export(tmp_path):
    backbone = add_adapters(bert(num_layers=1, max_sequence_length=16), "lora", name="lora")
    _randomize(backbone, "lora", 4)
    model = PooledTextClassifier(backbone, 2)
    exported = export_saved_model(model, tmp_path, "lora", merge=True)
    assert backbone.merged_adapter is None  # unmerged afterwards
    result = check_export(exported.path)
    assert result.passed, result.problems


# -- The method as a search dimension of the tuner ------------------------------


def test_a_search_over_methods_trains_each_with_only_its_own_settings(tmp_path):
    import functools

    import keras_tuner

    from keras_adapters.tuning import AdapterHyperModel, default_compile

    base = bert(num_layers=1)
    hypermodel = AdapterHyperModel(
        base, num_classes=2, adapter_presets=["pfeiffer", "lora"], bottleneck_sizes=[2, 4],
        ranks=[2], seed=0, compile_task=functools.partial(default_compile, run_eagerly=True),
    )
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=10, seed=1,
                                     directory=str(tmp_path), project_name="methods")
    x = inputs_for(base, batch=8)
    y = x["token_ids"][:, 0] % 2
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=8, verbose=0)
    trials = list(tuner.oracle.trials.values())
    # Three settings, not 2 x 2: the bottleneck size is conditioned on the
    # method, so the LoRA trial has none (and only LoRA has a rank).
    assert sorted(sorted(t.hyperparameters.values.items()) for t in trials) == [
        [("adapter", "lora"), ("rank", 2)],
        [("adapter", "pfeiffer"), ("bottleneck_size", 2)],
        [("adapter", "pfeiffer"), ("bottleneck_size", 4)],
    ]
    assert {t.status for t in trials} == {"COMPLETED"}
    assert all(t.metrics.get_best_value("fit_seconds") > 0 for t in trials)  # each one trained
    # The LoRA trial's model, from its checkpoint: rank 2, as drawn, and
    # trained (B starts at zero).
    (lora_trial,) = [t for t in trials if t.hyperparameters["adapter"] == "lora"]
    trained = tuner.load_model(lora_trial).backbone
    assert (trained.get_adapter_config("default").kind, trained.get_adapter_config("default").rank) == (
        "lora", 2)
    b_factors = [w for w in trained.adapter_weights("default") if w.name == "lora_b"]
    assert len(b_factors) == 2 and all(np.abs(b).max() > 0 for b in _values(b_factors))  # query, value
    # The pfeiffer trials trained bottleneck adapters of their sizes.
    assert sorted(hypermodel.parameter_counts[hypermodel.values_key(t.hyperparameters.values)][0]
                  for t in trials if t.hyperparameters["adapter"] == "pfeiffer") == [
        2 * 16 + 2 + 2 * 16 + 16 + 34, 4 * 16 + 4 + 4 * 16 + 16 + 34]  # one block, head 16 x 2 + 2
    with pytest.raises(KerasAdaptersError, match="`ranks` are LoRA ranks"):
        AdapterHyperModel(base, num_classes=2, adapter_presets=["pfeiffer", "ia3"], ranks=[2])
