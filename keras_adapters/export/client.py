"""Client-side helpers: turn raw texts into TF Serving requests.

Tokenize with the model's own preprocessor (the one the run trained with),
then build the body of a REST `:predict` call or a gRPC `PredictRequest`.
"""

import numpy as np

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export.routing import ROUTED_SIGNATURE, TASK_ID_INPUT


def tokenize_for_serving(preprocessor, texts):
    """Runs the KerasHub preprocessor and returns int32 numpy features.

    Args:
        preprocessor: e.g. `LoadedRun.preprocessor` or a KerasHub
            `TextClassifierPreprocessor`.
        texts: list of strings.

    Returns:
        Dict of int32 arrays `(batch, sequence_length)`: `token_ids`,
        `padding_mask` (1/0) and, for BERT-style models, `segment_ids`.

    Example:

    >>> from keras_adapters.pretrained import load_preprocessor
    >>> from keras_adapters.export import tokenize_for_serving
    >>> features = tokenize_for_serving(load_preprocessor("minilm_l6", 6), ["hello world"])
    >>> sorted(features), features["token_ids"].dtype, features["token_ids"].shape
    (['padding_mask', 'segment_ids', 'token_ids'], dtype('int32'), (1, 6))
    """
    features = preprocessor(list(texts))
    if isinstance(features, tuple):  # CausalLM preprocessors return (x, y, w)
        features = features[0]
    return {key: np.asarray(value).astype("int32") for key, value in features.items()}


def with_task_ids(features, task_ids, tasks=None):
    """The features of a routed request: the rows plus one `task_id` each.

    For the `serving_multitask` signature of a multi-task export (see
    `keras_adapters.export.routing`): rows of any tasks, in any order.

    Args:
        features: dict of arrays with a leading batch dimension.
        task_ids: one task per row: int ids, or task names when `tasks`
            is given.
        tasks: the export's task names in id order (its metadata's
            `tasks`, e.g. `read_export_metadata(path)["metadata"]["tasks"]`);
            needed for names, and checks int ids when given.

    Returns:
        A new dict: `features` plus `task_id`, an int32 array `(batch,)`.

    Raises:
        KerasAdaptersError: for a task name without `tasks`, an unknown task
            name or id, or not one task per row.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.export import with_task_ids
    >>> features = {"token_ids": np.array([[2, 7, 3], [2, 9, 3]])}
    >>> with_task_ids(features, ["topic", "sentiment"], tasks=["sentiment", "topic"])["task_id"]
    array([1, 0], dtype=int32)
    """
    sizes = {len(np.asarray(value)) for value in features.values()}
    if len(sizes) != 1:
        raise KerasAdaptersError(f"All features need the same batch size; got {sorted(sizes)}.")
    (size,) = sizes
    task_ids = list(task_ids)
    if len(task_ids) != size:
        raise KerasAdaptersError(
            f"Give one task per row: {len(task_ids)} task ids for a batch of {size} rows."
        )
    tasks = None if tasks is None else list(tasks)
    ids = []
    for task in task_ids:
        if isinstance(task, str):
            if tasks is None or task not in tasks:
                known = "pass `tasks` (the export's task names)" if tasks is None else f"known: {tasks}"
                raise KerasAdaptersError(f"Unknown task {task!r} in `task_ids`; {known}.")
            ids.append(tasks.index(task))
        elif isinstance(task, (int, np.integer)) and not isinstance(task, bool):
            if task < 0 or (tasks is not None and task >= len(tasks)):
                allowed = "a non-negative int" if tasks is None else f"0..{len(tasks) - 1} ({tasks})"
                raise KerasAdaptersError(f"Task id {task} is out of range; use {allowed}.")
            ids.append(int(task))
        else:
            raise KerasAdaptersError(f"Task ids are ints or task names; got {task!r}.")
    return {**features, TASK_ID_INPUT: np.asarray(ids, "int32")}


def rest_request_body(features, format="instances", signature_name=None, task_ids=None, tasks=None):
    """The JSON body of a TF Serving REST `:predict` request.

    Args:
        features: dict of arrays with a leading batch dimension, e.g. from
            `tokenize_for_serving`.
        format: `"instances"` (row format: one object per example) or
            `"inputs"` (columnar format: one list per input).
        signature_name: the signature to call; default `serving_default`,
            or `serving_multitask` with `task_ids`.
        task_ids: for the routed signature of a multi-task export: one task
            per row (see `with_task_ids`).
        tasks: the export's task names in id order (see `with_task_ids`).

    Returns:
        A JSON-serializable dict.

    Raises:
        KerasAdaptersError: for an unknown format, ragged batch sizes, or
            invalid `task_ids`.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.export import rest_request_body
    >>> body = rest_request_body({"token_ids": np.array([[101, 7592, 102]]),
    ...                           "padding_mask": np.array([[1, 1, 1]])})
    >>> body["instances"]
    [{'token_ids': [101, 7592, 102], 'padding_mask': [1, 1, 1]}]

    Rows for two tasks in one routed request:

    >>> body = rest_request_body({"token_ids": np.array([[101, 102], [101, 102]])},
    ...                          task_ids=["topic", "sentiment"], tasks=["sentiment", "topic"])
    >>> body["signature_name"], body["instances"][0]
    ('serving_multitask', {'token_ids': [101, 102], 'task_id': 1})
    """
    if format not in ("instances", "inputs"):
        raise KerasAdaptersError(f"`format` must be 'instances' or 'inputs'; got {format!r}.")
    features, signature_name = _routed(features, signature_name, task_ids, tasks)
    arrays = {key: np.asarray(value) for key, value in features.items()}
    sizes = {len(value) for value in arrays.values()}
    if len(sizes) != 1:
        raise KerasAdaptersError(f"All features need the same batch size; got {sorted(sizes)}.")
    body = {"signature_name": signature_name}
    if format == "inputs":
        body["inputs"] = {key: value.tolist() for key, value in arrays.items()}
    else:
        (size,) = sizes
        body["instances"] = [
            {key: value[i].tolist() for key, value in arrays.items()} for i in range(size)
        ]
    return body


def grpc_predict_request(features, model_name, signature_name=None, version=None, task_ids=None, tasks=None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for the features.

    Needs the `tensorflow-serving-api` package (installed with the `serving`
    extra: `pip install keras-adapters[serving]`).

    Args:
        features: dict of int arrays with a leading batch dimension, e.g.
            from `tokenize_for_serving`; sent as int32 tensors.
        model_name: the model name the server serves.
        signature_name: the signature to call; default `serving_default`,
            or `serving_multitask` with `task_ids`.
        version: optional int, a specific model version.
        task_ids: for the routed signature of a multi-task export: one task
            per row (see `with_task_ids`).
        tasks: the export's task names in id order (see `with_task_ids`).

    Returns:
        A `PredictRequest`, to send with `PredictionServiceStub.Predict`.

    Raises:
        ImportError: if `tensorflow-serving-api` is not installed.
        KerasAdaptersError: for invalid `task_ids`.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.export import grpc_predict_request
    >>> request = grpc_predict_request({"token_ids": np.array([[101, 102]])}, "sentiment")
    >>> request.model_spec.name, [d.size for d in request.inputs["token_ids"].tensor_shape.dim]
    ('sentiment', [1, 2])
    >>> routed = grpc_predict_request({"token_ids": np.array([[101, 102]])}, "tasks", task_ids=[1])
    >>> routed.model_spec.signature_name, list(routed.inputs["task_id"].int_val)
    ('serving_multitask', [1])
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    features, signature_name = _routed(features, signature_name, task_ids, tasks)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, value in features.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value, "int32")))
    return request


def _routed(features, signature_name, task_ids, tasks):
    """`(features, signature name)`, with `task_id` added for a routed request."""
    if task_ids is None:
        return features, signature_name or "serving_default"
    return with_task_ids(features, task_ids, tasks), signature_name or ROUTED_SIGNATURE
