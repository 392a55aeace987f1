"""Client-side helpers: turn raw texts into TF Serving requests.

Tokenize with the model's own preprocessor (the one the run trained with),
then build the body of a REST `:predict` call or a gRPC `PredictRequest`.
"""

import numpy as np


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
    >>> features = tokenize_for_serving(load_preprocessor("minilm_l6", 6), ["hello world"])
    >>> sorted(features), features["token_ids"].dtype, features["token_ids"].shape
    (['padding_mask', 'segment_ids', 'token_ids'], dtype('int32'), (1, 6))
    """
    features = preprocessor(list(texts))
    if isinstance(features, tuple):  # CausalLM preprocessors return (x, y, w)
        features = features[0]
    return {key: np.asarray(value).astype("int32") for key, value in features.items()}


def rest_request_body(features, format="instances", signature_name="serving_default"):
    """The JSON body of a TF Serving REST `:predict` request.

    Args:
        features: dict of arrays with a leading batch dimension, e.g. from
            `tokenize_for_serving`.
        format: `"instances"` (row format: one object per example) or
            `"inputs"` (columnar format: one list per input).
        signature_name: the signature to call.

    Returns:
        A JSON-serializable dict.

    Raises:
        ValueError: for an unknown format or ragged batch sizes.

    Example:

    >>> import numpy as np
    >>> body = rest_request_body({"token_ids": np.array([[101, 7592, 102]]),
    ...                           "padding_mask": np.array([[1, 1, 1]])})
    >>> body["instances"]
    [{'token_ids': [101, 7592, 102], 'padding_mask': [1, 1, 1]}]
    """
    if format not in ("instances", "inputs"):
        raise ValueError(f"`format` must be 'instances' or 'inputs'; got {format!r}.")
    arrays = {key: np.asarray(value) for key, value in features.items()}
    sizes = {len(value) for value in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(f"All features need the same batch size; got {sorted(sizes)}.")
    body = {"signature_name": signature_name}
    if format == "inputs":
        body["inputs"] = {key: value.tolist() for key, value in arrays.items()}
    else:
        (size,) = sizes
        body["instances"] = [
            {key: value[i].tolist() for key, value in arrays.items()} for i in range(size)
        ]
    return body


def grpc_predict_request(features, model_name, signature_name="serving_default", version=None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for the features.

    Needs the `tensorflow-serving-api` package (installed with the `serving`
    extra: `pip install keras-adapters[serving]`).

    Args:
        features: dict of int arrays with a leading batch dimension, e.g.
            from `tokenize_for_serving`; sent as int32 tensors.
        model_name: the model name the server serves.
        signature_name: the signature to call.
        version: optional int, a specific model version.

    Returns:
        A `PredictRequest`, to send with `PredictionServiceStub.Predict`.

    Raises:
        ImportError: if `tensorflow-serving-api` is not installed.

    Example:

    >>> import numpy as np
    >>> request = grpc_predict_request({"token_ids": np.array([[101, 102]])}, "sentiment")
    >>> request.model_spec.name, [d.size for d in request.inputs["token_ids"].tensor_shape.dim]
    ('sentiment', [1, 2])
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, value in features.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value, "int32")))
    return request
