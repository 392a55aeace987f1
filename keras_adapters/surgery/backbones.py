"""The KerasHub backbones keras-adapters supports, and their adapted classes.

Each supported KerasHub backbone class gets one registered subclass,
`Adapted<Name>` (e.g. `AdaptedBertBackbone`), deriving from `AdaptedBackbone`
and the KerasHub class. Registration under the `keras_adapters` package is
what lets `.keras` files and presets of adapted backbones load back.
"""

import keras
import keras_hub

from keras_adapters.errors import UnsupportedBackboneError
from keras_adapters.surgery.adapted_backbone import AdaptedBackbone
from keras_adapters.surgery.embeddings import embedding_slot_property

# KerasHub class name -> (attributes listing its transformer blocks in order,
# {embedding dropout attribute: the block list it feeds}). Every one of these
# is built from `TransformerEncoder`/`TransformerDecoder`. OPT embeds with one
# `TokenAndPositionEmbedding` and no dropout: no embedding adapters there.
_SUPPORTED = {
    "BertBackbone": (("transformer_layers",), {"embeddings_dropout": "transformer_layers"}),
    "RobertaBackbone": (("transformer_layers",), {"embeddings_dropout": "transformer_layers"}),
    "XLMRobertaBackbone": (("transformer_layers",), {"embeddings_dropout": "transformer_layers"}),
    "DistilBertBackbone": (("transformer_layers",), {"embeddings_dropout": "transformer_layers"}),
    "ElectraBackbone": (("transformer_layers",), {"embeddings_dropout": "transformer_layers"}),
    "GPT2Backbone": (("transformer_layers",), {"embeddings_dropout": "transformer_layers"}),
    "OPTBackbone": (("transformer_layers",), {}),
    "BartBackbone": (
        ("encoder_transformer_layers", "decoder_transformer_layers"),
        {
            "encoder_embeddings_dropout": "encoder_transformer_layers",
            "decoder_embeddings_dropout": "decoder_transformer_layers",
        },
    ),
}


def _make_adapted_class(base, block_attributes, embedding_attributes):
    name = f"Adapted{base.__name__}"
    namespace = {
        "__module__": __name__,
        "__doc__": (
            f"A `keras_hub.models.{base.__name__}` with adapters in its "
            "transformer blocks.\n\nBuild it with "
            "`keras_adapters.add_adapters(backbone, ...)`; see "
            "`AdaptedBackbone` for the adapter API."
        ),
        "transformer_block_attributes": block_attributes,
        "embedding_dropout_attributes": embedding_attributes,
        "keras_hub_class": base,
    }
    for attribute in embedding_attributes:
        namespace[attribute] = embedding_slot_property(attribute)
    cls = type(name, (AdaptedBackbone, base), namespace)
    return keras.saving.register_keras_serializable(package="keras_adapters", name=name)(cls)


#: KerasHub backbone class -> its adapted subclass.
ADAPTED_CLASSES = {
    getattr(keras_hub.models, base_name): _make_adapted_class(
        getattr(keras_hub.models, base_name), blocks, embeddings
    )
    for base_name, (blocks, embeddings) in _SUPPORTED.items()
}

AdaptedBertBackbone = ADAPTED_CLASSES[keras_hub.models.BertBackbone]
AdaptedGPT2Backbone = ADAPTED_CLASSES[keras_hub.models.GPT2Backbone]


def supported_backbones():
    """Names of the KerasHub backbone classes `add_adapters` accepts.

    Returns:
        A tuple of class names, e.g. `"BertBackbone"`, `"GPT2Backbone"`.

    Example:

    >>> from keras_adapters import supported_backbones
    >>> "GPT2Backbone" in supported_backbones()
    True
    """
    return tuple(_SUPPORTED)


def adapted_class_for(backbone):
    """The adapted class for a backbone (plain or already adapted).

    Raises:
        UnsupportedBackboneError: (a `TypeError`) for a backbone
            keras-adapters does not support.
    """
    if isinstance(backbone, AdaptedBackbone):
        return type(backbone)
    adapted = ADAPTED_CLASSES.get(type(backbone))
    if adapted is None:
        raise UnsupportedBackboneError(
            f"add_adapters does not support {type(backbone).__name__}. Supported "
            f"KerasHub backbones (built from TransformerEncoder/TransformerDecoder): "
            f"{', '.join(_SUPPORTED)}."
        )
    return adapted
