"""Export a `SpanQuestionAnswerer` as a TF-Serving-ready SavedModel.

The layout, atomic version directory and metadata are those of
`export_saved_model` (`keras_adapters.export.version_directory`), so
`check_export` (TensorFlow's C++ loader) verifies it. Its `serving_default`
signature takes the token inputs of `[CLS] question [SEP] context [SEP]`
windows (`token_ids`, `segment_ids`, `padding_mask`, int32 `(batch, length)`,
as `keras_adapters.data.qa_encoding.encode_qa` makes them) and returns
`start_logits` and `end_logits` (float32 `(batch, length)`, padding at
-1e9); the client picks the best span with `decode_answers`.
"""

import keras

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export.token_inputs import default_sample_inputs, token_input_names
from keras_adapters.export.version_directory import prepare_version, write_archive

__all__ = ["QA_EXPORT_KIND", "export_question_answerer"]

#: The `kind` recorded in the export metadata.
QA_EXPORT_KIND = "question_answerer"


def export_question_answerer(model, base_path, name, version=None, *, overwrite=False, metadata=None):
    """Writes a `SpanQuestionAnswerer` as `base_path/name/VERSION`, start/end logits out.

    Args:
        model: a `SpanQuestionAnswerer` (or any model with token-dict inputs
            and a `{"start_logits", "end_logits"}` output).
        base_path: the server's model base path.
        name: the model name.
        version: positive int; default: one more than the highest existing.
        overwrite: replace an existing version directory.
        metadata: extra JSON-serializable metadata (e.g. the sequence length).

    Returns:
        An `ExportedModel` (kind `"question_answerer"`).

    Raises:
        KerasAdaptersError: for an invalid name or version, a model without
            start/end outputs, or an unwritable `base_path`.
        FileExistsError: if the version exists and `overwrite` is False.

    Example:

    >>> import keras_hub, tempfile
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.export import check_export
    >>> from keras_adapters.export.question_answering import export_question_answerer
    >>> from keras_adapters.tasks import SpanQuestionAnswerer
    >>> model = SpanQuestionAnswerer(add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16), bottleneck_size=4))
    >>> exported = export_question_answerer(model, tempfile.mkdtemp(), "qa")
    >>> sorted(exported.signatures["serving_default"]["outputs"])
    ['end_logits', 'start_logits']
    >>> check_export(exported.path).passed  # TensorFlow's C++ loader, no TF Python
    True
    """
    import tensorflow as tf  # SavedModel export is TensorFlow-only.

    if not isinstance(model.output, dict) or set(model.output) != {"start_logits", "end_logits"}:
        raise KerasAdaptersError("export_question_answerer needs a model whose outputs are "
                                 "{'start_logits', 'end_logits'}, such as SpanQuestionAnswerer.")
    input_names = token_input_names(model)
    final_path, version = prepare_version(base_path, name, version, overwrite)

    def serve(inputs):
        outputs = model(inputs, training=False)
        return {key: keras.ops.cast(outputs[key], "float32") for key in ("start_logits", "end_logits")}

    archive = keras.export.ExportArchive()
    archive.track(model)
    token_spec = {key: tf.TensorSpec(shape=(None, None), dtype=tf.int32, name=key) for key in input_names}
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=[token_spec])
    sample_inputs = default_sample_inputs(model)
    sample_outputs = {f"serving_default.{key}": keras.ops.convert_to_numpy(value)
                      for key, value in serve(sample_inputs).items()}

    return write_archive(archive, final_path, version, name=name, kind=QA_EXPORT_KIND,
                         overwrite=overwrite, sample_inputs=sample_inputs,
                         sample_outputs=sample_outputs, checked_signatures=["serving_default"],
                         metadata=metadata)
