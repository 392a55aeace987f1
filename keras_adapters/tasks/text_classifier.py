"""`PooledTextClassifier`: a pooled linear head over any supported backbone."""

import keras

from keras_adapters.tasks.backbone_task import BackboneTask
from keras_adapters.tasks.pooling import FirstTokenPooling, MaskedMeanPooling

POOLINGS = ("mean", "cls")


@keras.saving.register_keras_serializable(package="keras_adapters")
class PooledTextClassifier(BackboneTask):
    """Text classifier: backbone -> pooling -> dropout -> dense logits.

    Works on every backbone `add_adapters` supports (encoders and decoders),
    takes the backbone's token inputs (`token_ids`, `padding_mask`, and
    `segment_ids` where the backbone has them) and returns logits. Tokenize
    with the preset's `TextClassifierPreprocessor`. Unlike
    `keras_hub.models.BertTextClassifier`, which reads BERT's pooler, the
    default here is mean pooling, which suits sentence-embedding
    checkpoints and decoders alike.

    Args:
        backbone: a KerasHub backbone, usually from `add_adapters`.
        num_classes: int, number of classes.
        pooling: `"mean"` (over non-padding tokens) or `"cls"` (first token).
        dropout: dropout rate before the output layer.

    Example:

    >>> import keras_hub, numpy as np
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> model = PooledTextClassifier(backbone, num_classes=3)
    >>> batch = {"token_ids": np.ones((2, 8), "int32"),
    ...          "segment_ids": np.zeros((2, 8), "int32"),
    ...          "padding_mask": np.ones((2, 8), "int32")}
    >>> model.predict(batch, verbose=0).shape
    (2, 3)
    """

    config_fields = ("num_classes", "pooling", "dropout")

    def __init__(self, backbone, num_classes, pooling="mean", dropout=0.1, **kwargs):
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}; got {pooling!r}.")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an int >= 2; got {num_classes!r}.")

        def head(inputs, sequence):
            if pooling == "mean":
                pooled = MaskedMeanPooling(name="mean_pooling")(sequence, inputs["padding_mask"])
            else:
                pooled = FirstTokenPooling(name="cls_pooling")(sequence)
            pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
            return keras.layers.Dense(num_classes, name="logits", dtype="float32")(pooled)

        kwargs.setdefault("name", "pooled_text_classifier")
        super().__init__(backbone, head, **kwargs)
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
