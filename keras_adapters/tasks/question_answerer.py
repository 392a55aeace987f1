"""`SpanQuestionAnswerer`: start/end logits per token, for extractive QA."""

import keras

from keras_adapters.tasks.backbone_task import BackboneTask


@keras.saving.register_keras_serializable(package="keras_adapters")
class SpanLogits(keras.layers.Layer):
    """Splits `(batch, length, 2)` scores into start and end logits, padding masked.

    Padding positions get a large negative logit, so the softmax over
    positions (the loss) and `argmax` never choose them.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.tasks.question_answerer import SpanLogits
    >>> out = SpanLogits()(np.ones((1, 3, 2), "float32"), np.array([[1, 1, 0]]))
    >>> sorted(out), out["start_logits"].numpy()[0, :2].tolist()
    (['end_logits', 'start_logits'], [1.0, 1.0])
    """

    def call(self, scores, padding_mask):
        padding = keras.ops.cast(keras.ops.logical_not(keras.ops.cast(padding_mask, "bool")), scores.dtype)
        scores = scores - 1e9 * padding[..., None]
        return {"start_logits": scores[..., 0], "end_logits": scores[..., 1]}


@keras.saving.register_keras_serializable(package="keras_adapters")
class SpanQuestionAnswerer(BackboneTask):
    """Extractive question answerer: backbone -> dropout -> start/end logits.

    Takes the backbone's token inputs of `[CLS] question [SEP] context
    [SEP]` windows (`token_ids`, `segment_ids`, `padding_mask`; see
    `keras_adapters.data.qa_encoding.encode_qa`) and returns
    `{"start_logits": (batch, length), "end_logits": (batch, length)}`, float32,
    padding masked. Train it with the answer's start and end token as
    targets (`QAFeatures.labels`); `compile()` defaults to the fine-tuning
    recipe (see `BackboneTask.compile`) with sparse cross-entropy over
    positions on each output (their sum is the loss) and a position accuracy
    per output. `decode_answers` turns the logits into answer strings. The
    head computes in the backbone's dtype policy, the logits in float32.
    Like every task, it saves with `save_adapters` and restores with
    `load_task`.

    Args:
        backbone: a KerasHub encoder backbone with segment ids (BERT
            family), usually from `add_adapters`.
        dropout: dropout rate before the output layer.
        preprocessor: optional KerasHub preprocessor (kept with the task;
            training needs the windows and span labels of `encode_qa`).
        **kwargs: passed to `BackboneTask` (e.g. `name`, `compile`).

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import SpanQuestionAnswerer
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> model = SpanQuestionAnswerer(backbone)
    >>> batch = {"token_ids": np.ones((2, 8), "int32"),
    ...          "segment_ids": np.zeros((2, 8), "int32"),
    ...          "padding_mask": np.ones((2, 8), "int32")}
    >>> sorted((name, logits.shape) for name, logits in model.predict(batch, verbose=0).items())
    [('end_logits', (2, 8)), ('start_logits', (2, 8))]
    """

    config_fields = ("dropout",)

    def __init__(self, backbone, dropout=0.1, preprocessor=None, **kwargs):
        def head(inputs, sequence):
            hidden = keras.layers.Dropout(dropout, name="head_dropout", dtype=backbone.dtype_policy)(
                sequence
            )
            # float32 logits: a softmax over positions in float16 loses precision.
            scores = keras.layers.Dense(2, name="span_scores", dtype="float32")(hidden)
            return SpanLogits(name="span_logits", dtype="float32")(scores, inputs["padding_mask"])

        kwargs.setdefault("name", "span_question_answerer")
        super().__init__(backbone, head, preprocessor=preprocessor, **kwargs)
        self.dropout = dropout

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """`BackboneTask.compile`, with the `"auto"` loss and metrics per output.

        Args:
            optimizer, loss, metrics, **kwargs: as `BackboneTask.compile`;
                `"auto"` loss is sparse cross-entropy on each of
                `start_logits` and `end_logits`, `"auto"` metrics their
                position accuracies (`start_logits_accuracy`, ...).
        """
        from keras_adapters.training import (
            recipe,  # the training package builds on tasks
        )

        outputs = ("start_logits", "end_logits")
        if isinstance(loss, str) and loss == "auto":
            loss = {name: recipe.classification_loss() for name in outputs}
        if isinstance(metrics, str) and metrics == "auto":
            metrics = {name: recipe.accuracy_metrics() for name in outputs}
        super().compile(optimizer, loss, metrics=metrics, **kwargs)
