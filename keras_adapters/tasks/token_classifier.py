"""`TokenClassifier`: a per-token linear head (e.g. for named entities)."""

import keras

from keras_adapters.tasks.backbone_task import BackboneTask


@keras.saving.register_keras_serializable(package="keras_adapters")
class TokenClassifier(BackboneTask):
    """Token classifier: backbone -> dropout -> dense logits for every token.

    Takes the backbone's token inputs (`token_ids`, `padding_mask`, and
    `segment_ids` where the backbone has them) and returns logits of shape
    `(batch, sequence_length, num_classes)`. Train it with
    `SparseCategoricalCrossentropy(from_logits=True)` and a per-token
    `sample_weight` that is 0 on padding and on the word pieces that carry
    no label (see `keras_adapters.data.ner.encode_ner`). Like every task,
    it saves with `save_adapters` and restores with `load_task`.

    Args:
        backbone: a KerasHub backbone, usually from `add_adapters`.
        num_classes: int >= 2, number of tags (e.g. BIO tags).
        dropout: dropout rate before the output layer.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Raises:
        ValueError: if `num_classes` is not an int >= 2.

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters.tasks import TokenClassifier
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), bottleneck_size=4)
    >>> model = TokenClassifier(backbone, num_classes=5)
    >>> batch = {"token_ids": np.ones((2, 8), "int32"),
    ...          "segment_ids": np.zeros((2, 8), "int32"),
    ...          "padding_mask": np.ones((2, 8), "int32")}
    >>> model.predict(batch, verbose=0).shape
    (2, 8, 5)
    """

    config_fields = ("num_classes", "dropout")

    def __init__(self, backbone, num_classes, dropout=0.1, **kwargs):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an int >= 2; got {num_classes!r}.")

        def head(inputs, sequence):
            hidden = keras.layers.Dropout(dropout, name="head_dropout")(sequence)
            return keras.layers.Dense(num_classes, name="token_logits", dtype="float32")(hidden)

        kwargs.setdefault("name", "token_classifier")
        super().__init__(backbone, head, **kwargs)
        self.num_classes = num_classes
        self.dropout = dropout
