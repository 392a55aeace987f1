"""`PooledTextClassifier`: a pooled linear head over any supported backbone."""

import keras
import keras_hub

# The pooling names are defined without Keras, for the settings and `--help`.
from keras_adapters.defaults import POOLINGS
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.tasks.backbone_task import BackboneTaskMixin
from keras_adapters.tasks.pooling import FirstTokenPooling, MaskedMeanPooling


@keras.saving.register_keras_serializable(package="keras_adapters")
class PooledTextClassifier(BackboneTaskMixin, keras_hub.models.TextClassifier):
    """Text classifier: backbone -> pooling -> dropout -> dense logits.

    Works on every backbone `add_adapters` supports (encoders and decoders)
    and returns logits. A KerasHub `TextClassifier`: given the preset's
    `TextClassifierPreprocessor`, `fit`, `evaluate` and `predict` take raw
    strings; without one they take the backbone's token inputs
    (`token_ids`, `padding_mask`, and `segment_ids` where the backbone has
    them). `compile()` defaults to the fine-tuning recipe (see
    `BackboneTask.compile`). Unlike `keras_hub.models.BertTextClassifier`,
    which reads BERT's pooler, the default here is mean pooling, which suits
    sentence-embedding checkpoints and decoders alike. The head computes in
    the backbone's dtype policy, the logits in float32.

    Args:
        backbone: a KerasHub backbone, usually from `add_adapters`.
        num_classes: int >= 2, number of classes.
        pooling: `"mean"` (over non-padding tokens) or `"cls"` (first token).
        dropout: dropout rate before the output layer.
        preprocessor: optional KerasHub preprocessor turning strings into
            the backbone's inputs; None: inputs are token dicts.
        **kwargs: passed to `keras_hub.models.TextClassifier` (e.g. `name`,
            `compile`).

    Raises:
        KerasAdaptersError: for an unknown `pooling` or `num_classes` < 2.

    Example (token inputs):

    >>> import keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> model = PooledTextClassifier(backbone, num_classes=3)
    >>> batch = {"token_ids": np.ones((2, 8), "int32"),
    ...          "segment_ids": np.zeros((2, 8), "int32"),
    ...          "padding_mask": np.ones((2, 8), "int32")}
    >>> model.predict(batch, verbose=0).shape
    (2, 3)

    With a preprocessor, raw strings:

    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "film"]
    >>> preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
    ...     keras_hub.models.BertTokenizer(vocabulary=vocabulary), sequence_length=8)
    >>> model = PooledTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    >>> model.predict(["a good film", "a bad film"], verbose=0).shape
    (2, 2)
    """

    config_fields = ("num_classes", "pooling", "dropout")

    def __init__(self, backbone, num_classes, pooling="mean", dropout=0.1, preprocessor=None, **kwargs):
        if pooling not in POOLINGS:
            raise KerasAdaptersError(f"`pooling` must be one of {POOLINGS}; got {pooling!r}.")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise KerasAdaptersError(f"`num_classes` must be an int >= 2; got {num_classes!r}.")

        policy = backbone.dtype_policy

        def head(inputs, sequence):
            if pooling == "mean":
                pooled = MaskedMeanPooling(name="mean_pooling", dtype=policy)(
                    sequence, inputs["padding_mask"]
                )
            else:
                pooled = FirstTokenPooling(name="cls_pooling", dtype=policy)(sequence)
            pooled = keras.layers.Dropout(dropout, name="head_dropout", dtype=policy)(pooled)
            # float32 logits: a softmax/cross-entropy in float16 loses precision.
            return keras.layers.Dense(num_classes, name="logits", dtype="float32")(pooled)

        kwargs.setdefault("name", "pooled_text_classifier")
        super().__init__(backbone, head, preprocessor=preprocessor, **kwargs)
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
