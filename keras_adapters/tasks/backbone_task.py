"""`BackboneTask`: what every task model here shares."""

import keras


class BackboneTask(keras.Model):
    """Base of the task models: a backbone's token inputs in, a head on its output.

    Subclasses build their head on `sequence_output` in `__init__` and list
    their own constructor arguments in `config_fields`; `get_config` and
    `from_config` then serialize the backbone with them, so a `.keras` file
    of the task restores the adapted backbone, its adapters and the head.

    Args:
        backbone: a KerasHub backbone (plain or from `add_adapters`).
        outputs: a function `(inputs dict, sequence_output) -> outputs`
            building the head on the backbone's symbolic outputs.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    >>> import keras, keras_hub
    >>> class MeanVector(BackboneTask):
    ...     config_fields = ()
    ...     def __init__(self, backbone, **kwargs):
    ...         super().__init__(backbone, lambda inputs, sequence: keras.ops.mean(sequence, axis=1), **kwargs)
    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=100, num_layers=1,
    ...     num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=8)
    >>> MeanVector(backbone).output.shape
    (None, 16)
    """

    #: Constructor arguments (besides `backbone`) that `get_config` records.
    config_fields = ()

    def __init__(self, backbone, outputs, **kwargs):
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in backbone.input
        }
        backbone_outputs = backbone(inputs)
        sequence = (
            backbone_outputs["sequence_output"] if isinstance(backbone_outputs, dict) else backbone_outputs
        )
        super().__init__(inputs=inputs, outputs=outputs(inputs, sequence), **kwargs)
        self.backbone = backbone

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
            **{field: getattr(self, field) for field in self.config_fields},
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["backbone"], dict):
            config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)
