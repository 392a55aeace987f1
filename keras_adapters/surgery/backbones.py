"""The KerasHub backbones keras-adapters supports, and their adapted classes.

Each supported KerasHub backbone class gets one registered subclass,
`Adapted<Name>` (e.g. `AdaptedBertBackbone`), deriving from `AdaptedBackbone`
and the KerasHub class. Registration under the `keras_adapters` package is
what lets `.keras` files and presets of adapted backbones load back.
"""

import keras
import keras_hub

from keras_adapters.surgery.adapted_backbone import AdaptedBackbone

# KerasHub class name -> attributes listing its transformer blocks in order.
# Every one of these is built from `TransformerEncoder`/`TransformerDecoder`.
_SUPPORTED = {
    "BertBackbone": ("transformer_layers",),
    "RobertaBackbone": ("transformer_layers",),
    "XLMRobertaBackbone": ("transformer_layers",),
    "DistilBertBackbone": ("transformer_layers",),
    "ElectraBackbone": ("transformer_layers",),
    "GPT2Backbone": ("transformer_layers",),
    "OPTBackbone": ("transformer_layers",),
    "BartBackbone": ("encoder_transformer_layers", "decoder_transformer_layers"),
}


def _make_adapted_class(base, block_attributes):
    name = f"Adapted{base.__name__}"
    cls = type(
        name,
        (AdaptedBackbone, base),
        {
            "__module__": __name__,
            "__doc__": (
                f"A `keras_hub.models.{base.__name__}` with adapters in its "
                "transformer blocks.\n\nBuild it with "
                "`keras_adapters.add_adapters(backbone, ...)`; see "
                "`AdaptedBackbone` for the adapter API."
            ),
            "transformer_block_attributes": block_attributes,
            "keras_hub_class": base,
        },
    )
    return keras.saving.register_keras_serializable(package="keras_adapters", name=name)(cls)


#: KerasHub backbone class -> its adapted subclass.
ADAPTED_CLASSES = {
    getattr(keras_hub.models, base_name): _make_adapted_class(
        getattr(keras_hub.models, base_name), attributes
    )
    for base_name, attributes in _SUPPORTED.items()
}

AdaptedBertBackbone = ADAPTED_CLASSES[keras_hub.models.BertBackbone]
AdaptedGPT2Backbone = ADAPTED_CLASSES[keras_hub.models.GPT2Backbone]


def supported_backbones():
    """Names of the KerasHub backbone classes `add_adapters` accepts.

    Returns:
        A tuple of class names, e.g. `"BertBackbone"`, `"GPT2Backbone"`.

    Example:

    >>> "GPT2Backbone" in supported_backbones()
    True
    """
    return tuple(_SUPPORTED)


def adapted_class_for(backbone):
    """The adapted class for a backbone (plain or already adapted).

    Raises:
        TypeError: for a backbone keras-adapters does not support.
    """
    if isinstance(backbone, AdaptedBackbone):
        return type(backbone)
    adapted = ADAPTED_CLASSES.get(type(backbone))
    if adapted is None:
        raise TypeError(
            f"add_adapters does not support {type(backbone).__name__}. Supported "
            f"KerasHub backbones (built from TransformerEncoder/TransformerDecoder): "
            f"{', '.join(_SUPPORTED)}."
        )
    return adapted
