"""Export adapted models as TF-Serving-ready SavedModels.

Layout written (the one TF Serving polls):

    BASE/NAME/VERSION/saved_model.pb
    BASE/NAME/VERSION/variables/...
    BASE/NAME/VERSION/assets.extra/keras_adapters_export.json
    BASE/NAME/VERSION/assets.extra/sample_inputs.npz, sample_outputs.npz

`VERSION` is an integer. The version directory is built under a hidden name
in `BASE/NAME/` (TF Serving only loads directories named by an integer) and
switched into place when complete, so a server polling `BASE/NAME` never sees
a half-written version, even if the export is interrupted or killed. With
`overwrite`, an existing version is swapped for the new one in one step
(`keras_adapters.utils.atomic.atomic_directory`): at every instant
`BASE/NAME/VERSION` is the complete old export or the complete new one.

Signatures (tag `serve`):

- `serving_default`: token inputs, int32, shape `(batch, length)`, named
  `token_ids`, `padding_mask` (1 for tokens, 0 for padding) and, for
  BERT-style backbones, `segment_ids`. Outputs: a classifier gives `logits`
  and `probabilities` (float32, `(batch, num_classes)`); a causal LM gives
  `logits` (float32, `(batch, length, vocabulary)`). Tokenization stays
  outside the graph, so only core TensorFlow ops are used.
- `serving_text` (opt-in, `text_signature=True`): `text`, a string tensor of
  shape `(batch,)`, tokenized inside the graph by the KerasHub preprocessor;
  same outputs. It needs a server whose bundled tensorflow-text has every op
  used: the op list is in the metadata file (`ops_outside_core`).
"""

import dataclasses
import json
import os
import re

import keras
import numpy as np

from keras_adapters.config import read_json_object
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import protowire
from keras_adapters.export.routing import ROUTED_SIGNATURE, TASK_ID_INPUT, RoutedTasks
from keras_adapters.utils.atomic import atomic_directory, check_writable
from keras_adapters.utils.leftovers import recover_leftovers_in

METADATA_DIR = "assets.extra"
METADATA_FILE = "keras_adapters_export.json"
SAMPLE_INPUTS = "sample_inputs.npz"
SAMPLE_OUTPUTS = "sample_outputs.npz"
EXPORT_FORMAT = "keras-adapters/saved-model"


@dataclasses.dataclass
class ExportedModel:
    """What `export_saved_model` wrote.

    Attributes:
        path: the version directory, `BASE/NAME/VERSION`.
        version: the integer version.
        kind: `"classifier"` or `"causal_lm"`.
        signatures: name -> {"inputs": ..., "outputs": ...} with dtypes and
            shapes (-1 for variable dimensions).
        ops: every op type in the graph and its function library.
    """

    path: str
    version: int
    kind: str
    signatures: dict
    ops: list


def _is_causal_lm(model):
    import keras_hub

    return isinstance(model, keras_hub.models.CausalLM)


def _input_names(model):
    if _is_causal_lm(model):
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
    for name in _input_names(model):
        if name == "padding_mask":
            mask = np.ones((batch_size, length), "int32")
            mask[1:, length // 2 :] = 0
            sample[name] = mask
        elif name == "segment_ids":
            sample[name] = np.zeros((batch_size, length), "int32")
        else:
            sample[name] = rng.integers(1, min(vocabulary, 1000), (batch_size, length)).astype("int32")
    return sample


def _next_version(model_dir):
    versions = [int(name) for name in os.listdir(model_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def _validate_name(name):
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise KerasAdaptersError(
            f"Invalid model name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (it becomes a directory name)."
        )


def export_saved_model(
    model,
    base_path,
    name,
    version=None,
    *,
    preprocessor=None,
    text_signature=False,
    sample_inputs=None,
    overwrite=False,
    metadata=None,
    merge=False,
):
    """Writes `model` as a SavedModel version that TF Serving can load.

    Args:
        model: a classifier over an (adapted) backbone with token inputs
            (e.g. `PooledTextClassifier`, `BertTextClassifier` with
            `preprocessor=None`) or a KerasHub `CausalLM` (e.g. `GPT2CausalLM`).
        base_path: the server's model base path.
        name: the model name: the export goes to `base_path/name/VERSION`.
        version: positive int; default: one more than the highest existing.
        preprocessor: the KerasHub preprocessor for the text signature.
        text_signature: also add `serving_text` (raw strings in; needs
            tensorflow-text ops in the server).
        sample_inputs: dict of int32 arrays to record with the Keras outputs,
            for `check_export`; default: random tokens.
        overwrite: replace an existing version directory.
        metadata: extra JSON-serializable metadata (e.g. label names).
        merge: fold the one active LoRA or (IA)^3 adapter into the
            projections for the export (`merge_adapter`), so the served
            graph runs plain projections, as fast as the base model; the
            model is unmerged afterwards.

    Returns:
        An `ExportedModel`.

    Raises:
        ValueError: for an invalid name or version, an unsupported model, or
            `text_signature=True` without a preprocessor.
        FileExistsError: if the version exists and `overwrite` is False.
        KerasAdaptersError: if `base_path` cannot be written.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.export import check_export, export_saved_model
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters import add_adapters
    >>> model = PooledTextClassifier(add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16), bottleneck_size=4), 2)
    >>> exported = export_saved_model(model, tempfile.mkdtemp(), "sentiment")
    >>> exported.path.endswith("sentiment/1")
    True
    >>> check_export(exported.path).passed  # TensorFlow's C++ loader, no TF Python
    True
    """
    if text_signature and preprocessor is None:
        raise KerasAdaptersError("`text_signature=True` needs the `preprocessor` to put in the graph.")
    if merge:
        from keras_adapters.saving.adapter_files import find_adapted_backbone
        from keras_adapters.surgery.merging import merged_for_serving

        with merged_for_serving(find_adapted_backbone(model)[0]):
            return export_saved_model(
                model, base_path, name, version, preprocessor=preprocessor,
                text_signature=text_signature, sample_inputs=sample_inputs,
                overwrite=overwrite, metadata=metadata,
            )
    return _export(
        {"serving_default": (model, None)},
        base_path,
        name,
        version,
        text_preprocessor=preprocessor if text_signature else None,
        sample_inputs=sample_inputs,
        overwrite=overwrite,
        metadata=metadata,
    )


def export_multitask_saved_model(
    tasks,
    base_path,
    name,
    version=None,
    *,
    adapters=None,
    routed_signature=False,
    sample_inputs=None,
    overwrite=False,
    metadata=None,
):
    """Writes several tasks sharing one backbone as one SavedModel.

    Each task gets its own signature (named after it); `serving_default` is
    the first task. The task models must call the same adapted backbone
    object (e.g. from `keras_adapters.load_task` on one backbone), so its
    variables are stored once: the export is about the backbone plus the
    adapters and heads, not one backbone per task. Each signature runs its
    task's adapter setup, baked in when the signature is traced.

    With `routed_signature=True` the export also has `serving_multitask`
    (`keras_adapters.export.routing`): the token inputs plus an int32
    `task_id` per row (task ids follow the order of `tasks`), rows of any
    tasks in any order in one batch. It runs the backbone once over the
    whole batch, each row through its own task's adapters and head, and
    returns `logits` padded to the largest label count (padding
    `LOGIT_PADDING`, -1e9), `probabilities` (padded with 0) and each row's
    `num_classes`. An unknown id fails the call. The ids and task names are
    in the metadata (`metadata["serving_multitask"]`, printed by
    `keras-adapters check-export`), and the recorded sample has rows of
    every task, so `check_export` runs it with TensorFlow's C++ loader.

    Args:
        tasks: dict of task name -> task model (signature names: letters,
            digits, `_`).
        base_path, name, version, sample_inputs, overwrite, metadata: as in
            `export_saved_model`.
        adapters: dict task name -> adapter setup (a name or composition
            block) to activate for that task; default: the task's name.
        routed_signature: also write `serving_multitask`.

    Returns:
        An `ExportedModel`.

    Raises:
        ValueError: if the tasks do not share one adapted backbone, a task's
            adapter is unknown, or a task name is not a valid signature name;
            with `routed_signature`, also for a task model whose head cannot
            be separated from the backbone call or a task setup with
            `BatchSplit`/`Parallel`.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.export import export_multitask_saved_model, read_export_metadata
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters import add_adapters
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16), "pfeiffer", name="sentiment")
    >>> backbone.add_adapter("topic", "pfeiffer")
    >>> tasks = {"sentiment": PooledTextClassifier(backbone, 2, name="s"),
    ...          "topic": PooledTextClassifier(backbone, 4, name="t")}
    >>> exported = export_multitask_saved_model(tasks, tempfile.mkdtemp(), "both",
    ...                                         routed_signature=True)
    >>> sorted(exported.signatures)
    ['sentiment', 'serving_default', 'serving_multitask', 'topic']
    >>> sorted(exported.signatures["serving_multitask"]["inputs"])
    ['padding_mask', 'segment_ids', 'task_id', 'token_ids']
    >>> [(t["task_id"], t["task"]) for t in read_export_metadata(exported.path)["metadata"]["serving_multitask"]["tasks"]]
    [(0, 'sentiment'), (1, 'topic')]
    """
    from keras_adapters.saving.adapter_files import find_adapted_backbone

    if not tasks:
        raise KerasAdaptersError("`tasks` is empty: give at least one task model.")
    backbones = {id(find_adapted_backbone(model)[0]) for model in tasks.values()}
    if len(backbones) != 1:
        raise KerasAdaptersError(
            "The task models do not share one backbone object; build them on the same "
            "adapted backbone (keras_adapters.load_task(backbone, path) for each task)."
        )
    adapters = dict(adapters or {})
    endpoints = {}
    for task, model in tasks.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", task) or task.startswith("serving_"):
            raise KerasAdaptersError(
                f"Invalid task name {task!r}: signature names use letters, digits and '_', "
                "start with a letter, and 'serving_' is reserved."
            )
        endpoints[task] = (model, adapters.get(task, task))
    first = next(iter(endpoints))
    endpoints = {"serving_default": endpoints[first], **endpoints}
    backbone = find_adapted_backbone(next(iter(tasks.values())))[0]
    previous = backbone.active_adapters
    for _, setup in endpoints.values():
        backbone.set_active_adapters(setup)  # validates names and fusions
    backbone.set_active_adapters(previous)
    metadata = {"tasks": list(tasks), **(metadata or {})}
    routing = None
    if routed_signature:
        kind = "causal_lm" if _is_causal_lm(next(iter(tasks.values()))) else "classifier"
        routing = RoutedTasks({task: endpoints[task] for task in tasks}, backbone, kind=kind)
        metadata[ROUTED_SIGNATURE] = routing.describe()
    try:
        return _export(
            endpoints,
            base_path,
            name,
            version,
            sample_inputs=sample_inputs,
            overwrite=overwrite,
            metadata=metadata,
            routing=routing,
        )
    finally:
        # Each signature set its task's setup while traced: leave the one
        # the caller had.
        backbone.set_active_adapters(previous)


def _export(endpoints, base_path, name, version, *, text_preprocessor=None,
            sample_inputs=None, overwrite=False, metadata=None, routing=None):
    """Writes endpoints {signature: (model, adapter setup or None)}.

    `routing` (a `RoutedTasks`) adds the routed signature.
    """
    import tensorflow as tf  # SavedModel export is TensorFlow-only.

    from keras_adapters.saving.adapter_files import find_adapted_backbone

    _validate_name(name)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise KerasAdaptersError(f"`version` must be a positive int (TF Serving's layout); got {version!r}.")
    models = [model for model, _ in endpoints.values()]
    kinds = {"causal_lm" if _is_causal_lm(model) else "classifier" for model in models}
    if len(kinds) != 1:
        raise KerasAdaptersError("All tasks of one export must be classifiers, or all causal LMs.")
    kind = kinds.pop()
    input_names = _input_names(models[0])
    model_dir = os.path.join(os.fspath(base_path), name)
    # Fails now, not after tracing, on a read-only location (creates model_dir).
    check_writable(os.path.join(model_dir, str(version or 1)))
    # What a killed export left (of any version): cleaned, or put back.
    recover_leftovers_in(model_dir)
    version = version or _next_version(model_dir)
    final_path = os.path.join(model_dir, str(version))
    if os.path.exists(final_path) and not overwrite:
        raise FileExistsError(
            f"Version {version} already exists at {final_path}; pass overwrite=True "
            "(--overwrite) to replace it, or leave the version out to write the next one."
        )

    def outputs_for(logits):
        logits = keras.ops.cast(logits, "float32")
        if kind == "causal_lm":
            return {"logits": logits}
        return {"logits": logits, "probabilities": keras.ops.softmax(logits, axis=-1)}

    def run(model, setup, inputs):
        if setup is not None:
            # Python side effect at trace time: this signature's graph gets
            # this task's adapters.
            find_adapted_backbone(model)[0].set_active_adapters(setup)
        return outputs_for(model(inputs, training=False))

    archive = keras.export.ExportArchive()
    tracked = []
    for model in models:
        if not any(model is seen for seen in tracked):
            archive.track(model)
            tracked.append(model)
    token_spec = {
        key: tf.TensorSpec(shape=(None, None), dtype=tf.int32, name=key) for key in input_names
    }
    def endpoint(model, setup):
        def serve(inputs):
            return run(model, setup, inputs)

        return serve

    for signature, (model, setup) in endpoints.items():
        archive.add_endpoint(name=signature, fn=endpoint(model, setup), input_signature=[token_spec])
    if text_preprocessor is not None:
        archive.track(text_preprocessor)
        model, setup = endpoints["serving_default"]

        def serve_text(text):
            features = text_preprocessor(text)
            if isinstance(features, tuple):  # (x, y, sample_weight) from CausalLM preprocessors
                features = features[0]
            features = {key: tf.cast(features[key], tf.int32) for key in input_names}
            return run(model, setup, features)

        archive.add_endpoint(
            name="serving_text",
            fn=serve_text,
            input_signature=[tf.TensorSpec(shape=(None,), dtype=tf.string, name="text")],
        )

    if routing is not None:
        routed_spec = {
            **token_spec,
            TASK_ID_INPUT: tf.TensorSpec(shape=(None,), dtype=tf.int32, name=TASK_ID_INPUT),
        }

        def serve_routed(inputs):
            return routing(inputs)

        archive.add_endpoint(name=ROUTED_SIGNATURE, fn=serve_routed, input_signature=[routed_spec])

    if sample_inputs is None:
        sample_inputs = default_sample_inputs(models[0])
    sample_inputs = {key: np.asarray(value, "int32") for key, value in sample_inputs.items()}
    missing = sorted(set(input_names) - set(sample_inputs))
    if missing:
        raise KerasAdaptersError(f"`sample_inputs` lacks {missing}; the model takes {input_names}.")
    if routing is not None:
        # Rows of every task, mixed; the other signatures take the same tokens.
        sample_inputs = routing.sample_inputs({key: sample_inputs[key] for key in input_names})
    token_sample = {key: sample_inputs[key] for key in input_names}
    sample_outputs = {}
    for signature, (model, setup) in endpoints.items():
        for key, value in run(model, setup, token_sample).items():
            sample_outputs[f"{signature}.{key}"] = keras.ops.convert_to_numpy(value)
    if routing is not None:
        for key, value in routing(sample_inputs).items():
            sample_outputs[f"{ROUTED_SIGNATURE}.{key}"] = keras.ops.convert_to_numpy(value)

    # Built under a hidden, non-integer name (ignored by TF Serving), renamed
    # into place when complete.
    with atomic_directory(final_path, overwrite=overwrite) as export_dir:
        os.rmdir(export_dir)  # ExportArchive wants to create the directory
        archive.write_out(export_dir, verbose=False)
        meta_graph = _serve_meta_graph(export_dir)
        signatures = _describe_signatures(protowire.signatures(meta_graph))
        ops = protowire.graph_ops(meta_graph)
        extra = os.path.join(export_dir, METADATA_DIR)
        os.makedirs(extra, exist_ok=True)
        np.savez(os.path.join(extra, SAMPLE_INPUTS), **sample_inputs)
        np.savez(os.path.join(extra, SAMPLE_OUTPUTS), **sample_outputs)
        with open(os.path.join(extra, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(
                {
                    "format": EXPORT_FORMAT,
                    "format_version": 1,
                    "kind": kind,
                    "model_name": name,
                    "version": version,
                    "signatures": signatures,
                    "checked_signatures": list(endpoints) + ([ROUTED_SIGNATURE] if routing else []),
                    "ops": ops,
                    "tensorflow_version": tf.__version__,
                    "metadata": metadata or {},
                },
                f,
                indent=2,
                sort_keys=True,
            )
    return ExportedModel(final_path, version, kind, signatures, ops)


def _serve_meta_graph(export_dir):
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        saved_model = f.read()
    for meta_graph in protowire.repeated(saved_model, protowire.SAVED_MODEL_META_GRAPHS):
        if "serve" in protowire.meta_graph_tags(meta_graph):
            return meta_graph
    raise RuntimeError(f"{export_dir} has no meta graph tagged 'serve'.")


_DTYPE_NAMES = {1: "float32", 3: "int32", 7: "string", 9: "int64", 10: "bool"}


def _describe_signatures(raw):
    described = {}
    for signature, parts in raw.items():
        if signature.startswith("__"):
            continue  # internal (e.g. __saved_model_init_op)
        described[signature] = {
            side: {
                key: {"dtype": _DTYPE_NAMES.get(info["dtype"], str(info["dtype"])), "shape": info["shape"]}
                for key, info in tensors.items()
            }
            for side, tensors in parts.items()
        }
    return described


def read_export_metadata(path):
    """Reads the metadata file of an export version directory.

    Args:
        path: an export version directory (`BASE/NAME/VERSION`).

    Returns:
        The parsed metadata (a dict): signatures with their inputs and
        outputs, the sample inputs' file, and the `metadata` given at export.

    Raises:
        KerasAdaptersError: if `path` is not a version directory written by
            `export_saved_model`, or its metadata file is unreadable,
            truncated or not a JSON object (the message names the file).

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters.export import export_saved_model, read_export_metadata
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters import add_adapters
    >>> model = PooledTextClassifier(add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16), bottleneck_size=4), 2)
    >>> exported = export_saved_model(model, tempfile.mkdtemp(), "m", metadata={"labels": ["n", "p"]})
    >>> metadata = read_export_metadata(exported.path)
    >>> sorted(metadata["signatures"]), metadata["metadata"]
    (['serving_default'], {'labels': ['n', 'p']})
    """
    file = os.path.join(os.fspath(path), METADATA_DIR, METADATA_FILE)
    if not os.path.isfile(file):
        raise KerasAdaptersError(
            f"{path} is not an export version directory written by keras-adapters "
            f"(no {METADATA_DIR}/{METADATA_FILE}). Pass BASE/NAME/VERSION."
        )
    return read_json_object(file, "Export metadata file")
