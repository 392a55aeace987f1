"""`PooledTextClassifier`: a pooled linear head over any supported backbone."""

import keras

from keras_adapters.tasks.pooling import FirstTokenPooling, MaskedMeanPooling

POOLINGS = ("mean", "cls")


@keras.saving.register_keras_serializable(package="keras_adapters")
class PooledTextClassifier(keras.Model):
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

    def __init__(self, backbone, num_classes, pooling="mean", dropout=0.1, **kwargs):
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}; got {pooling!r}.")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an int >= 2; got {num_classes!r}.")
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in backbone.input
        }
        outputs = backbone(inputs)
        sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
        if pooling == "mean":
            pooled = MaskedMeanPooling(name="mean_pooling")(sequence, inputs["padding_mask"])
        else:
            pooled = FirstTokenPooling(name="cls_pooling")(sequence)
        pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
        logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(pooled)
        kwargs.setdefault("name", "pooled_text_classifier")
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
            "num_classes": self.num_classes,
            "pooling": self.pooling,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["backbone"], dict):
            config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)
