"""`AdaptedBackbone`: the mixin that gives a KerasHub backbone adapters.

Its verbs live in mixins by concept: `AdapterManagement` (add, delete,
average, activate), `AdapterFusions`, `TrainableState` (what trains),
`AdapterInspection` (what is there) and `AdapterMerging` (LoRA/(IA)^3
merged for serving). This module keeps the constructor, the forward pass
and the config that `.keras` files and presets restore.
"""

import keras
from keras import ops

from keras_adapters.composition import Fuse, Parallel, fusion_key, setup_config, setup_names
from keras_adapters.config import AdapterConfig
from keras_adapters.surgery.blocks import install_slots
from keras_adapters.surgery.fusions import AdapterFusions
from keras_adapters.surgery.inspection import AdapterInspection
from keras_adapters.surgery.management import AdapterManagement
from keras_adapters.surgery.merging import AdapterMerging
from keras_adapters.surgery.trainable_state import TrainableState


class AdaptedBackbone(AdapterManagement, AdapterFusions, TrainableState, AdapterInspection, AdapterMerging):
    """Mixin for a KerasHub backbone whose transformer blocks carry adapters.

    Concrete classes (`AdaptedBertBackbone`, `AdaptedGPT2Backbone`, ...) derive
    from this mixin and from the KerasHub backbone class, so an adapted
    backbone is still a `BertBackbone` (or `GPT2Backbone`, ...) and works with
    every KerasHub task of its family. Build one with
    `keras_adapters.add_adapters`, then manage its adapters in place:
    `add_adapter`, `delete_adapter`, `set_active_adapters` (a name, a list,
    or a composition block: `Stack`, `Average`, `Fuse`, `BatchSplit`,
    `Parallel`), `train_adapter`, `add_fusion`, `train_fusion`.

    The constructor takes the KerasHub backbone's own arguments plus the
    adapter state, which `get_config` records. That is what makes `.keras`
    files and `save_to_preset` restore the adapters and the active setup,
    and what re-applies the frozen/trainable state after every load (Keras
    does not save `trainable` flags).

    Every verb that changes what runs (`set_active_adapters`,
    `train_adapter`, `set_trainable_adapters`, `add_adapter`,
    `delete_adapter`, `average_adapter`, `add_fusion`, `train_fusion`) takes
    effect in the next `predict`, `evaluate`, `fit`, `generate` or export of
    this backbone and of any model containing it, with no recompiling. The
    setup is Python state read while a function is traced, so each adapter
    slot notes, at trace time, the Keras models whose methods run the trace
    (the owners of Keras' `predict_function`/`test_function`/
    `train_function` and KerasHub's `generate_function`); each verb then
    replaces those models' traced functions with stand-ins that retrace on
    their next call. Only training needs the user: when the trainable
    weights changed after a model's optimizer was built (its first `fit` or
    `evaluate`), its next `fit` raises `KerasAdaptersError` asking for
    `model.compile(...)` again instead of training stale weights. A
    `tf.function` of your own around the backbone is not a Keras model's:
    trace it again after a verb.

    Args:
        adapters: dict of adapter name -> `AdapterConfig` (or its dict).
        active_adapters: the active setup (default: all adapters, stacked).
        trainable_adapters: names whose weights train (default: the active
            ones). Every other backbone weight is frozen, except layer
            norms when a trainable adapter's config says
            `train_layer_norms=True`: all of them with `layers=None`, else
            only those of its selected blocks (see `AdapterConfig`).
        fusions: list of lists of adapter names with AdapterFusion layers.
        trainable_fusions: the fusions whose weights train: lists of
            adapter names (or, as written before, strings "a+b").
        *args, **kwargs: the KerasHub backbone's arguments.

    Example:

    >>> import keras_hub
    >>> from keras_adapters import AdaptedBackbone, add_adapters
    >>> backbone = add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8), "pfeiffer", name="a")
    >>> isinstance(backbone, AdaptedBackbone), type(backbone).__name__
    (True, 'AdaptedBertBackbone')
    >>> backbone.add_adapter("b", "pfeiffer")
    >>> backbone.set_active_adapters(["a", "b"])  # a list is a stack
    >>> backbone.adapter_names
    ('a', 'b')
    """

    # Attributes of the KerasHub class listing its transformer blocks, in
    # the order that adapter layer indices follow. Set by each subclass.
    transformer_block_attributes = ("transformer_layers",)
    # Embedding dropout attribute -> the block list its output feeds. Each
    # becomes an `AdapterSlot` (see `surgery/embeddings.py`).
    embedding_dropout_attributes = {}
    # The KerasHub backbone class this adapted class derives from.
    keras_hub_class = None

    def __init__(
        self,
        *args,
        adapters=None,
        active_adapters=None,
        trainable_adapters=None,
        fusions=None,
        trainable_fusions=None,
        merged_adapter=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self._adapter_configs = {}
        self._fusion_names = []
        self._active_setup = None
        self._trainable_adapters = []
        self._trainable_fusions = []
        for block in self.transformer_blocks:
            install_slots(block)
        for name, config in (adapters or {}).items():
            self._insert_adapter(name, AdapterConfig.get(config))
        for names in fusions or []:
            self.add_fusion(Fuse(*fusion_key(names)))
        if active_adapters is None:
            active_adapters = list(self._adapter_configs)
        self.set_active_adapters(active_adapters)
        if trainable_adapters is None:
            trainable_adapters = setup_names(active_adapters)
        self._set_trainable(trainable_adapters, [fusion_key(f) for f in trainable_fusions or []])
        if merged_adapter is not None:
            # Weights loaded afterwards (a `.keras` file) overwrite the copies.
            self.merge_adapter(merged_adapter)

    def call(self, inputs, training=None, mask=None, **kwargs):
        setup = self._active_setup
        if isinstance(setup, Parallel):
            # Every example goes through every adapter: repeat the batch; the
            # slots send row block i to adapter i.
            copies = len(setup.children)
            inputs = keras.tree.map_structure(
                lambda x: ops.concatenate([x] * copies, axis=0), inputs
            )
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "adapters": {
                    name: adapter_config.to_dict()
                    for name, adapter_config in self._adapter_configs.items()
                },
                "active_adapters": setup_config(self._active_setup),
                "trainable_adapters": list(self._trainable_adapters),
                "fusions": [list(key) for key in self._fusion_names],
                "trainable_fusions": [list(key) for key in self._trainable_fusions],
            }
        )
        if self._merged_adapter is not None:
            # Only when merged: other configs stay as they were written before.
            config["merged_adapter"] = self._merged_adapter
        return config
