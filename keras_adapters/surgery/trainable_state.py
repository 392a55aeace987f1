"""Which weights of an adapted backbone train: adapters, fusions, layer norms."""

import keras

from keras_adapters.composition import setup_names
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_slot import AdapterSlot
from keras_adapters.layers.projection_slot import ProjectionSlot
from keras_adapters.surgery.compiled_functions import refresh_compiled_functions
from keras_adapters.surgery.layer_count import layers_below_blocks


class TrainableState:
    """Mixin of `AdaptedBackbone`: `train_adapter`, `set_trainable_adapters`
    and the frozen/trainable flags they set.

    Every backbone weight is frozen except the trainable adapters and
    fusions and the layer norms their configs train. The flags are applied
    again after every change and every load (Keras does not save them), and
    each change refreshes the traced functions of the models around the
    backbone.
    """

    def train_adapter(self, names):
        """Trains the named adapter(s) only: everything else is frozen.

        The adapters are activated too, unless the active setup already uses
        them (e.g. training a task adapter stacked on a language adapter).
        A model that was already trained or evaluated must be compiled again
        (`model.compile(...)`) before its next `fit`, which otherwise raises
        `KerasAdaptersError`: its optimizer was built for the old weights.

        Raises:
            KerasAdaptersError: for an unknown or repeated name.
        """
        names = self._as_names(names)
        self._check_names(names)
        self._refuse_while_merged("train_adapter")
        if not set(names) <= set(setup_names(self._active_setup)):
            self.set_active_adapters(names)
        self._set_trainable(names, [])

    def set_trainable_adapters(self, names):
        """Freezes every weight except the named adapters (and layer norms).

        As with `train_adapter`, a model already trained or evaluated needs
        `model.compile(...)` again before its next `fit`.

        Args:
            names: a name, a list of names, or `None` (all frozen).

        Raises:
            KerasAdaptersError: for an unknown name.
        """
        self._refuse_while_merged("set_trainable_adapters")
        self._set_trainable(names, [])

    def _set_trainable(self, adapter_names, fusion_names):
        adapter_names = self._as_names(adapter_names)
        self._check_names(adapter_names)
        unknown = [f for f in fusion_names if f not in self._fusion_names]
        if unknown:
            raise KerasAdaptersError(
                f"Unknown fusion(s) {unknown}; this backbone has {list(self._fusion_names)}."
            )
        self._trainable_adapters = list(adapter_names)
        self._trainable_fusions = list(fusion_names)
        self._apply_trainable_state()

    def _refresh_compiled_functions(self):
        traced_by = set()
        for _, _, slot in self.adapter_slots():
            traced_by.update(slot.traced_by)
        refresh_compiled_functions(traced_by)

    def _trained_layer_norms(self):
        """Ids of the layer norms that train (see `AdapterConfig.train_layer_norms`).

        The union over the trainable adapters whose config trains layer
        norms: all of them for `layers=None` (Houlsby's setting, and the
        behaviour before `layers` limited it); otherwise the norms inside
        the selected blocks, the layer norm after the last block (GPT-2's
        and OPT's final `layer_norm`) when the last block is selected, and
        the embedding layer norm only with an `"embedding"` placement. So
        nothing below the lowest selected block trains, and gradients stop
        there.
        """
        configs = [
            self._adapter_configs[name]
            for name in self._trainable_adapters
            if self._adapter_configs[name].train_layer_norms
        ]
        if not configs:
            return set()
        if any(config.layers is None for config in configs):
            return {id(layer) for layer in self.layer_norm_layers()}
        blocks = self.transformer_blocks
        selected, embedding = set(), False
        for config in configs:
            selected.update(config.resolve_layers(len(blocks)))
            embedding = embedding or "embedding" in config.placements
        trained = {
            id(child)
            for index in selected
            for child in blocks[index]._flatten_layers(include_self=False, recursive=False)
            if isinstance(child, keras.layers.LayerNormalization)
        }
        block_ids = {id(block) for block in blocks}
        below = {id(layer) for layer in layers_below_blocks(self)}
        for layer in self._flatten_layers(include_self=False, recursive=False):
            if not isinstance(layer, keras.layers.LayerNormalization) or id(layer) in block_ids:
                continue
            if (embedding if id(layer) in below else len(blocks) - 1 in selected):
                trained.add(id(layer))
        return trained

    def _apply_trainable_state(self):
        trainable = set(self._trainable_adapters) | set(self._trainable_fusions)
        trained_norms = self._trained_layer_norms()
        blocks = {id(block) for block in self.transformer_blocks}

        def apply(layer):
            if isinstance(layer, ProjectionSlot):
                layer.set_trainable_adapters(trainable)
            elif any(isinstance(child, ProjectionSlot) for child in layer._flatten_layers(include_self=False)):
                # An attention layer holding projection slots stays trainable so
                # that their adapters can be; its sublayers are set one by one.
                layer.trainable = True
                for child in layer._flatten_layers(include_self=False, recursive=False):
                    apply(child)
            elif isinstance(layer, AdapterSlot):
                # A slot stays trainable so that its adapters can be.
                layer.trainable = True
                layer.branch_dropout.trainable = False
                for name, sublayer in list(layer.adapters.items()) + list(layer.fusions.items()):
                    sublayer.trainable = name in trainable
            elif isinstance(layer, keras.layers.LayerNormalization):
                layer.trainable = id(layer) in trained_norms
            else:
                layer.trainable = False

        for layer in self._flatten_layers(include_self=False, recursive=False):
            if id(layer) not in blocks:
                apply(layer)
                continue
            # A block stays trainable so that its adapters can be; each of its
            # sublayers is then set on its own.
            layer.trainable = True
            for child in layer._flatten_layers(include_self=False, recursive=False):
                apply(child)
        self._refresh_compiled_functions()
