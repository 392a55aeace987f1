"""`TokenClassifier`: a per-token linear head (e.g. for named entities)."""

import keras

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.tasks.backbone_task import BackboneTask


@keras.saving.register_keras_serializable(package="keras_adapters")
class TokenClassifier(BackboneTask):
    """Token classifier: backbone -> dropout -> dense logits for every token.

    Takes the backbone's token inputs (`token_ids`, `padding_mask`, and
    `segment_ids` where the backbone has them), or strings when given a
    `preprocessor`, and returns logits of shape
    `(batch, sequence_length, num_classes)`. Train it with a per-token
    `sample_weight` that is 0 on padding and on the word pieces that carry
    no label (see `keras_adapters.data.ner.encode_ner`); `compile()`
    defaults to the fine-tuning recipe (see `BackboneTask.compile`), with
    the accuracy weighted by that sample weight. The head computes in the
    backbone's dtype policy, the logits in float32. Like every task, it
    saves with `save_adapters` and restores with `load_task`.

    Args:
        backbone: a KerasHub backbone, usually from `add_adapters`.
        num_classes: int >= 2, number of tags (e.g. BIO tags).
        dropout: dropout rate before the output layer.
        preprocessor: optional KerasHub preprocessor turning strings into
            the backbone's inputs (for `predict`; training needs labels
            aligned to word pieces, which `encode_ner` makes).
        **kwargs: passed to `BackboneTask` (e.g. `name`, `compile`).

    Raises:
        KerasAdaptersError: if `num_classes` is not an int >= 2.

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
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
    # Its sample weights mask padding and unlabelled word pieces.
    weighted_auto_metrics = True

    def __init__(self, backbone, num_classes, dropout=0.1, preprocessor=None, **kwargs):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise KerasAdaptersError(f"`num_classes` must be an int >= 2; got {num_classes!r}.")

        def head(inputs, sequence):
            hidden = keras.layers.Dropout(dropout, name="head_dropout", dtype=backbone.dtype_policy)(
                sequence
            )
            # float32 logits: a softmax/cross-entropy in float16 loses precision.
            return keras.layers.Dense(num_classes, name="token_logits", dtype="float32")(hidden)

        kwargs.setdefault("name", "token_classifier")
        super().__init__(backbone, head, preprocessor=preprocessor, **kwargs)
        self.num_classes = num_classes
        self.dropout = dropout
