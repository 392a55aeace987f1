"""The routed signature: rows of several tasks in one batch, each served as its own task."""

import json
import os
import shutil
import urllib.request

import keras
import keras_hub
import numpy as np
import pytest
from click.testing import CliRunner

from keras_adapters import AdapterConfig, add_adapters, save_adapters
from keras_adapters.cli.main import main
from keras_adapters.composition import BatchSplit, Parallel
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import (
    LOGIT_PADDING,
    ROUTED_SIGNATURE,
    grpc_predict_request,
    read_export_metadata,
    rest_request_body,
    run_with_cpp_loader,
    with_task_ids,
)
from keras_adapters.export.routing import RoutedTasks
from keras_adapters.export.run_set import load_run_set
from keras_adapters.pretrained import backbone_fingerprint, load_backbone, load_preprocessor
from keras_adapters.tasks import PooledTextClassifier, TokenClassifier
from keras_adapters.training import TrainConfig, load_run, write_run_directory

from helpers import bert, gpt2, inputs_for, make_tiny_preset, tf_model_server

WORDS = "good great fun bad awful dull the a movie film plot sports politics".split()


def _randomize(weights, seed):
    rng = np.random.default_rng(seed)
    for weight in weights:
        weight.assign(rng.normal(scale=0.3, size=weight.shape).astype("float32"))


def _head_weights(model, backbone):
    shared = {id(w) for w in backbone.weights}
    return [w for w in model.weights if id(w) not in shared]


@pytest.fixture(scope="module")
def three_tasks():
    """Three tasks on one backbone: two Pfeiffer adapters and a Houlsby one, three kinds of head."""
    backbone = add_adapters(bert(), "pfeiffer", name="sentiment", bottleneck_size=4)
    backbone.add_adapter("topic", "pfeiffer", bottleneck_size=8)
    backbone.add_adapter("nli", "houlsby", bottleneck_size=4, train_layer_norms=False)
    models = {
        "sentiment": PooledTextClassifier(backbone, 2, name="sentiment_classifier"),
        "topic": PooledTextClassifier(backbone, 5, pooling="cls", name="topic_classifier"),
        "nli": keras_hub.models.BertTextClassifier(backbone, 3, preprocessor=None, name="nli_classifier"),
    }
    for seed, (task, model) in enumerate(models.items()):
        _randomize(backbone.adapter_weights(task) + _head_weights(model, backbone), seed)
    return backbone, models


def _single_task_logits(backbone, models, x):
    expected = {}
    for task, model in models.items():
        backbone.set_active_adapters(task)
        expected[task] = keras.ops.convert_to_numpy(model(x, training=False))
    return expected


def _assert_rows_are_their_tasks(outputs, task_id, expected, names):
    logits, probabilities = np.asarray(outputs["logits"]), np.asarray(outputs["probabilities"])
    assert logits.shape == (len(task_id), max(e.shape[-1] for e in expected.values()))
    for row, k in enumerate(task_id):
        want = expected[names[k]][row]
        classes = want.shape[-1]
        np.testing.assert_allclose(logits[row, :classes], want, atol=1e-5, rtol=0)
        assert (logits[row, classes:] == LOGIT_PADDING).all()
        np.testing.assert_allclose(probabilities[row, :classes], keras.ops.softmax(want), atol=1e-6)
        assert (probabilities[row, classes:] == 0.0).all()
        assert int(np.asarray(outputs["num_classes"])[row]) == classes


def test_routed_rows_equal_each_single_task_model_in_keras(three_tasks):
    backbone, models = three_tasks
    names = list(models)
    routed = RoutedTasks({task: (model, task) for task, model in models.items()}, backbone)
    rng = np.random.default_rng(7)
    mixes = [rng.integers(0, 3, 9), np.array([2]), np.array([2, 0, 2, 0, 0])]
    backbone.set_active_adapters("topic")
    for task_id in mixes:
        x = inputs_for(backbone, batch=len(task_id), seed=int(task_id.sum()))
        expected = _single_task_logits(backbone, models, x)
        backbone.set_active_adapters("topic")
        outputs = routed({**x, "task_id": task_id.astype("int32")})
        _assert_rows_are_their_tasks(outputs, task_id, expected, names)
        assert backbone.active_adapters == ("topic",)  # the caller's setup is left as it was
    # The comparison can tell the adapters apart: the sentiment head over the
    # topic adapters gives other logits.
    backbone.set_active_adapters("topic")
    elsewhere = keras.ops.convert_to_numpy(models["sentiment"](x, training=False))
    assert np.abs(elsewhere - expected["sentiment"]).max() > 1e-3


def test_unknown_or_misaligned_task_id_fails_in_the_graph(three_tasks):
    import tensorflow as tf

    backbone, models = three_tasks
    routed = RoutedTasks({task: (model, task) for task, model in models.items()}, backbone)
    x = inputs_for(backbone, batch=3)
    for bad in ([0, 3, 1], [-1, 0, 1]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="0=sentiment, 1=topic, 2=nli"):
            routed({**x, "task_id": np.array(bad, "int32")})
    with pytest.raises(tf.errors.InvalidArgumentError, match="one int32 id per row"):
        routed({**x, "task_id": np.array([0, 1], "int32")})


def test_routing_refuses_what_it_cannot_route(three_tasks):
    backbone, models = three_tasks
    sentiment = models["sentiment"]
    for setup in (BatchSplit("sentiment", "topic", batch_sizes=[1, 1]), Parallel("sentiment", "topic")):
        with pytest.raises(KerasAdaptersError, match="BatchSplit/Parallel"):
            RoutedTasks({"a": (sentiment, setup)}, backbone)
    tagger = TokenClassifier(backbone, 4, name="tagger")
    with pytest.raises(KerasAdaptersError, match="outputs of one rank"):
        RoutedTasks({"sentiment": (sentiment, "sentiment"), "ner": (tagger, "topic")}, backbone)


def test_the_routed_split_is_internal_and_never_saved():
    import tensorflow as tf

    routed = BatchSplit.routed("a", "b", row_offsets=[tf.constant(0), tf.constant(2), tf.constant(5)])
    assert routed.is_routed and routed.batch_sizes is None
    assert [(int(start), int(end)) for start, end in routed.row_bounds()] == [(0, 2), (2, 5)]
    with pytest.raises(KerasAdaptersError, match="cannot be saved"):
        routed.get_config()
    same = routed
    assert same == routed and routed != BatchSplit("a", "b", batch_sizes=[2, 3])
    with pytest.raises(KerasAdaptersError, match="one more than its 2 children"):
        BatchSplit.routed("a", "b", row_offsets=[0, 2])
    # What users write stays ints only, so it always saves.
    with pytest.raises(KerasAdaptersError, match="non-negative int batch size"):
        BatchSplit("a", "b", batch_sizes=[tf.constant(2), 3])
    assert not BatchSplit("a", "b", batch_sizes=[2, 3]).is_routed


# Adapter kinds whose tensors are per head or per projection (LoRA, (IA)^3)
# or that read the sublayer's input (parallel), beside a bottleneck adapter.
KIND_CONFIGS = {
    "bottleneck": AdapterConfig.get("pfeiffer", bottleneck_size=4),
    "lora": AdapterConfig.get("lora", rank=2, targets=("query", "value", "ffn_output")),
    "ia3": AdapterConfig.get("ia3"),
    "parallel": AdapterConfig.get("parallel", placements=("attention", "feedforward")),
}


def test_each_row_runs_only_its_own_tasks_adapters_of_any_kind():
    names = list(KIND_CONFIGS)
    backbone = add_adapters(bert(num_layers=1), KIND_CONFIGS[names[0]], name=names[0])
    for name in names[1:]:
        backbone.add_adapter(name, KIND_CONFIGS[name])
    models = {name: PooledTextClassifier(backbone, 2 + k, name=f"{name}_classifier") for k, name in enumerate(names)}
    for seed, (task, model) in enumerate(models.items()):
        _randomize(backbone.adapter_weights(task) + _head_weights(model, backbone), seed)
    routed = RoutedTasks({task: (model, task) for task, model in models.items()}, backbone)
    # Called eagerly (tracing costs seconds here): the segment bounds are
    # tensors all the same. The traced, exported graph is checked by
    # test_cpp_loader_serves_each_row_as_its_own_run.
    x = inputs_for(backbone, batch=6, seed=4)
    expected = _single_task_logits(backbone, models, x)
    backbone.set_active_adapters(None)
    for task, model in models.items():  # every kind changes its task's output
        assert np.abs(keras.ops.convert_to_numpy(model(x, training=False)) - expected[task]).max() > 1e-3
    # Task 2 ((IA)^3) has no rows in the first mix: an empty segment.
    for task_id in (np.array([3, 1, 0, 1, 3, 0]), np.array([2, 2, 0, 3, 1, 2])):
        outputs = routed({**x, "task_id": task_id.astype("int32")})
        _assert_rows_are_their_tasks(outputs, task_id, expected, names)
    # A task whose adapter computes NaN leaves every other task's rows exact:
    # no row goes through another task's adapters, not even times zero.
    for weight in backbone.adapter_weights("lora"):
        weight.assign(np.full(weight.shape, np.nan, "float32"))
    task_id = np.array([1, 0, 2, 3, 1, 2])
    outputs = routed({**x, "task_id": task_id.astype("int32")})
    lora_rows = task_id == 1
    assert np.isnan(np.asarray(outputs["logits"])[lora_rows, :3]).all()
    others = {key: np.asarray(value)[~lora_rows] for key, value in outputs.items()}
    _assert_rows_are_their_tasks(
        others, task_id[~lora_rows], {task: value[~lora_rows] for task, value in expected.items()}, names
    )


def test_routed_causal_lms_answer_each_row_with_its_own_adapter():
    backbone = add_adapters(gpt2(), "pfeiffer", name="poems", bottleneck_size=4)
    backbone.add_adapter("code", "pfeiffer", bottleneck_size=4)
    models = {task: keras_hub.models.GPT2CausalLM(backbone, preprocessor=None) for task in ("poems", "code")}
    for seed, task in enumerate(models):
        _randomize(backbone.adapter_weights(task), seed)
    x = inputs_for(backbone, batch=5, seed=3)
    expected = _single_task_logits(backbone, models, x)
    task_id = np.array([1, 0, 0, 1, 1], "int32")
    outputs = RoutedTasks({task: (model, task) for task, model in models.items()}, backbone, kind="causal_lm")(
        {**x, "task_id": task_id}
    )
    assert sorted(outputs) == ["logits", "num_classes"]
    for row, k in enumerate(task_id):
        np.testing.assert_allclose(outputs["logits"][row], expected[["poems", "code"][k]][row], atol=1e-5, rtol=0)
    assert np.abs(expected["poems"] - expected["code"]).max() > 1e-3


def test_request_helpers_build_routed_requests():
    features = {"token_ids": np.array([[2, 7, 3], [2, 8, 3], [2, 9, 3]]), "padding_mask": np.ones((3, 3))}
    tasks = ["sentiment", "topic", "nli"]
    body = rest_request_body(features, task_ids=["nli", "sentiment", "topic"], tasks=tasks)
    assert body["signature_name"] == ROUTED_SIGNATURE
    assert [row["task_id"] for row in body["instances"]] == [2, 0, 1]
    assert body["instances"][0]["token_ids"] == [2, 7, 3]
    columns = rest_request_body(features, format="inputs", task_ids=[2, 0, 1])
    assert columns["inputs"]["task_id"] == [2, 0, 1]
    json.dumps(body), json.dumps(columns)
    request = grpc_predict_request(features, "tasks", task_ids=["topic", "topic", "nli"], tasks=tasks)
    assert request.model_spec.signature_name == ROUTED_SIGNATURE
    import tensorflow as tf

    assert tf.make_ndarray(request.inputs["task_id"]).tolist() == [1, 1, 2]
    assert with_task_ids(features, np.array([1, 0, 1]))["task_id"].dtype == np.int32
    for task_ids, tasks_given, message in (
        (["sports", "nli", "nli"], tasks, "Unknown task 'sports'"),
        (["nli", "nli", "nli"], None, "pass `tasks`"),
        ([0, 3, 1], tasks, r"Task id 3 is out of range; use 0..2"),
        ([0, 1], tasks, "2 task ids for a batch of 3 rows"),
        ([0, True, 1], tasks, "ints or task names"),
    ):
        with pytest.raises(KerasAdaptersError, match=message):
            rest_request_body(features, task_ids=task_ids, tasks=tasks_given)


# -- A run set, exported with the command line and served by TensorFlow's C++ loader --


def _write_run(work, preset, task, labels, adapter, seed):
    csv = work / f"{task}.csv"
    csv.write_text("text,label\n" + "".join(
        f"the {WORDS[(i * 3 + seed) % len(WORDS)]} movie {WORDS[i % len(WORDS)]},{labels[i % len(labels)]}\n"
        for i in range(24)
    ))
    sizes = {"bottleneck_size": 4} if adapter in ("houlsby", "pfeiffer", "parallel") else {}
    config = TrainConfig(output_dir=str(work / task), preset=preset, dataset=f"csv:{csv}",
                         sequence_length=8, adapter=adapter, **sizes)
    data, base = config.load_data(), load_backbone(preset)
    model = PooledTextClassifier(add_adapters(base, adapter, **sizes), len(data.label_names),
                                 pooling=config.pooling, dropout=config.head_dropout)
    _randomize(model.trainable_weights, seed)
    write_run_directory(config, model, data, load_preprocessor(preset, 8), backbone_fingerprint(base),
                        best_epoch=1, history=[])
    return str(work / task)


@pytest.fixture(scope="module")
def run_set_export(tmp_path_factory):
    """Two runs (2 and 3 classes; a bottleneck and a LoRA adapter) exported as one model by
    `keras-adapters export`."""
    work = tmp_path_factory.mktemp("run_set")
    preset = make_tiny_preset(work / "preset", WORDS, num_layers=1)
    runs = [
        _write_run(work, preset, "sentiment", ["neg", "pos"], "pfeiffer", 1),
        _write_run(work, preset, "topic", ["film", "sports", "politics"], "lora", 2),
    ]
    result = CliRunner().invoke(main, ["export", *runs, "--base-path", str(work / "serving"), "--name", "tasks"])
    assert result.exit_code == 0, result.output
    return runs, work / "serving" / "tasks" / "1", result.output, preset, work


def test_cli_exports_a_run_set_with_the_routed_signature(run_set_export):
    runs, path, output, _, _ = run_set_export
    assert "task_id: 0=sentiment (2 classes), 1=topic (3 classes)" in output
    metadata = read_export_metadata(path)
    assert metadata["checked_signatures"] == ["serving_default", "sentiment", "topic", ROUTED_SIGNATURE]
    routed = metadata["signatures"][ROUTED_SIGNATURE]
    assert routed["inputs"]["task_id"] == {"dtype": "int32", "shape": [-1]}
    assert routed["outputs"] == {
        "logits": {"dtype": "float32", "shape": [-1, 3]},
        "probabilities": {"dtype": "float32", "shape": [-1, 3]},
        "num_classes": {"dtype": "int32", "shape": [-1]},
    }
    assert metadata["metadata"]["run_dirs"] == {"sentiment": runs[0], "topic": runs[1]}
    with np.load(os.path.join(path, "assets.extra", "sample_inputs.npz")) as sample:
        assert sorted(set(sample["task_id"].tolist())) == [0, 1]  # the check covers every task

    check = CliRunner().invoke(main, ["check-export", str(path)])
    assert check.exit_code == 0, check.output
    assert "PASSED" in check.output and "serving_multitask task_id" in check.output
    assert "0=sentiment" in check.output and "1=topic" in check.output  # table cells may wrap


def test_cpp_loader_serves_each_row_as_its_own_run(run_set_export):
    runs, path, _, _, _ = run_set_export
    extra = os.path.join(path, "assets.extra")
    with np.load(os.path.join(extra, "sample_inputs.npz")) as data:
        features = {key: data[key] for key in data.files if key != "task_id"}
    with np.load(os.path.join(extra, "sample_outputs.npz")) as data:
        single = {task: data[f"{task}.logits"] for task in ("sentiment", "topic")}  # per-task signatures
    # Those are the runs' own models: here the one added second to the shared backbone.
    own = load_run(runs[1]).model(features, training=False)
    np.testing.assert_allclose(single["topic"], keras.ops.convert_to_numpy(own), atol=1e-5, rtol=0)

    rows = len(features["token_ids"])
    task_id = np.random.default_rng(5).integers(0, 2, rows).astype("int32")
    task_id[:2] = [1, 0]  # both tasks, whatever the draw
    served = run_with_cpp_loader(path, {**features, "task_id": task_id}, ROUTED_SIGNATURE)
    for row, k in enumerate(task_id):
        want = single[["sentiment", "topic"][k]][row]
        np.testing.assert_allclose(served["logits"][row, : len(want)], want, atol=1e-5, rtol=0)
        assert (served["logits"][row, len(want):] == LOGIT_PADDING).all()
        assert served["num_classes"][row] == len(want)
    task_id[-1] = 2
    with pytest.raises(KerasAdaptersError, match=r"Unknown task_id: this export serves ids 0=sentiment, 1=topic"):
        run_with_cpp_loader(path, {**features, "task_id": task_id}, ROUTED_SIGNATURE)


def test_run_sets_refuse_shared_layer_norms_and_repeated_names(run_set_export):
    runs, _, _, _, work = run_set_export
    # Refused from the adapter file alone, before any run is loaded.
    houlsby = work / "houlsby_run"
    save_adapters(add_adapters(bert(), "houlsby", bottleneck_size=4), houlsby / "adapter")
    with pytest.raises(KerasAdaptersError, match="trained the backbone's layer norms"):
        load_run_set([runs[0], houlsby])
    result = CliRunner().invoke(main, ["export", runs[0], runs[1], "--task", "a", "--task", "a",
                                       "--base-path", str(work / "other"), "--name", "x"])
    assert result.exit_code == 1 and "Task names repeat: ['a']" in result.output


@pytest.mark.skipif(
    shutil.which("tensorflow_model_server") is None,
    reason="no tensorflow_model_server binary on PATH (none can be installed here); "
    "test_cpp_loader_serves_each_row_as_its_own_run runs the routed signature with TensorFlow's C++ loader",
)
def test_real_tf_serving_answers_a_routed_rest_request(run_set_export):
    _, path, _, _, _ = run_set_export
    extra = os.path.join(path, "assets.extra")
    with np.load(os.path.join(extra, "sample_inputs.npz")) as data:
        features = {key: data[key] for key in data.files if key != "task_id"}
    with np.load(os.path.join(extra, "sample_outputs.npz")) as data:
        single = {task: data[f"{task}.logits"] for task in ("sentiment", "topic")}
    task_names = read_export_metadata(path)["metadata"]["tasks"]
    task_ids = [task_names[row % 2] for row in range(len(features["token_ids"]))]
    with tf_model_server("tasks", os.path.dirname(path)) as url:
        body = json.dumps(rest_request_body(features, task_ids=task_ids, tasks=task_names)).encode()
        request = urllib.request.Request(url + ":predict", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())["predictions"]
        for row, (task, prediction) in enumerate(zip(task_ids, answer)):
            want = single[task][row]
            assert prediction["num_classes"] == len(want)
            np.testing.assert_allclose(prediction["logits"][: len(want)], want, atol=1e-5)
