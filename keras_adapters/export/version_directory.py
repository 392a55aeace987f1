"""One export version directory, `BASE/NAME/VERSION`: writing it, and reading its metadata.

The layout and the signatures are described in
`keras_adapters.export.saved_model`, whose functions choose the signatures
and call `write_version`: it traces them into one SavedModel, records the
sample inputs and Keras' outputs for `check_export`, and switches the
complete directory into place.
"""

import dataclasses
import json
import os
import re

import keras
import numpy as np

from keras_adapters.backend_support import require_tensorflow_backend
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import protowire
from keras_adapters.export.routing import ROUTED_SIGNATURE, TASK_ID_INPUT
from keras_adapters.export.token_inputs import default_sample_inputs, is_causal_lm, token_input_names
from keras_adapters.utils.atomic import atomic_directory, check_writable
from keras_adapters.utils.json_files import read_json_object
from keras_adapters.utils.leftovers import recover_leftovers_in

__all__ = ["ExportedModel", "read_export_metadata"]

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


def _next_version(model_dir):
    versions = [int(name) for name in os.listdir(model_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def _validate_name(name):
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise KerasAdaptersError(
            f"Invalid model name {name!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (it becomes a directory name)."
        )


def write_version(endpoints, base_path, name, version, *, text_preprocessor=None,
                  sample_inputs=None, overwrite=False, metadata=None, routing=None):
    """Writes endpoints {signature: (model, adapter setup or None)} as one version.

    Args:
        endpoints: dict signature name -> (model, adapter setup to activate
            while tracing it, or None to leave the backbone as it is).
        base_path, name, version, sample_inputs, overwrite, metadata: as in
            `export_saved_model`.
        text_preprocessor: a KerasHub preprocessor: adds `serving_text`
            (raw strings in), which runs `serving_default`'s model.
        routing: a `RoutedTasks`: adds the routed signature.

    Returns:
        An `ExportedModel`.

    Raises:
        KerasAdaptersError: for an invalid name, version or sample, or
            classifiers mixed with causal LMs.
        FileExistsError: if the version exists and `overwrite` is False.
    """
    import tensorflow as tf  # SavedModel export is TensorFlow-only.

    from keras_adapters.saving.adapter_files import find_adapted_backbone

    models = [model for model, _ in endpoints.values()]
    kinds = {"causal_lm" if is_causal_lm(model) else "classifier" for model in models}
    if len(kinds) != 1:
        raise KerasAdaptersError("All tasks of one export must be classifiers, or all causal LMs.")
    kind = kinds.pop()
    input_names = token_input_names(models[0])
    final_path, version = prepare_version(base_path, name, version, overwrite)

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

    checked = list(endpoints) + ([ROUTED_SIGNATURE] if routing else [])
    return write_archive(archive, final_path, version, name=name, kind=kind, overwrite=overwrite,
                         sample_inputs=sample_inputs, sample_outputs=sample_outputs,
                         checked_signatures=checked, metadata=metadata)


def prepare_version(base_path, name, version, overwrite):
    """Checks a model name and version and picks the version directory to write.

    Fails before anything is traced: on an invalid name or version, an
    unwritable location, or an existing version without `overwrite`. Cleans
    up (or puts back) what a killed export left in the model directory.

    Args:
        base_path: the server's model base path.
        name: the model name (a directory name).
        version: positive int, or None for one more than the highest existing.
        overwrite: whether an existing version may be replaced.

    Returns:
        `(final_path, version)`.

    Raises:
        KerasAdaptersError: for an invalid name or version.
        FileExistsError: if the version exists and `overwrite` is False.
        KerasAdaptersError: on a Keras backend other than TensorFlow.
    """
    require_tensorflow_backend(
        "SavedModel export", "it traces the model into TensorFlow graphs for TF Serving"
    )
    _validate_name(name)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise KerasAdaptersError(f"`version` must be a positive int (TF Serving's layout); got {version!r}.")
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
    return final_path, version


def write_archive(archive, final_path, version, *, name, kind, overwrite, sample_inputs,
                  sample_outputs, checked_signatures, metadata=None):
    """Writes a traced `ExportArchive` and its metadata as one version directory, atomically.

    Args:
        archive: a `keras.export.ExportArchive` with its endpoints added.
        final_path, version: from `prepare_version`.
        name: the model name.
        kind: what the export serves (`"classifier"`, `"causal_lm"`, ...),
            recorded in the metadata.
        overwrite: whether an existing version may be replaced.
        sample_inputs: dict name -> array, stored for `check_export`.
        sample_outputs: dict "signature.output" -> array the Python model
            gave on `sample_inputs`, compared by `check_export`.
        checked_signatures: the signatures `sample_outputs` covers.
        metadata: extra JSON-serializable metadata.

    Returns:
        An `ExportedModel`.
    """
    import tensorflow as tf

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
                    "checked_signatures": list(checked_signatures),
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
