"""`AdapterSlot`: the place on a transformer branch where adapters plug in."""

import contextlib
import sys
import weakref

import keras
from keras import ops

from keras_adapters.composition import (
    Average,
    BatchSplit,
    Fuse,
    Parallel,
    Stack,
    fusion_key,
    fusion_name,
    parse_setup,
    setup_config,
)
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_fusion import AdapterFusion  # noqa: F401 (registers it for deserialize)


def tracing():
    """Whether Python code now runs to trace a function, not eagerly.

    Returns:
        True inside a `tf.function` being traced (and on other backends,
        where recording at every call is cheap and never wrong).
    """
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.inside_function()
    return True


def models_on_stack():
    """The Keras models whose methods are running on the Python call stack.

    While Keras traces `predict`/`evaluate`/`fit`, KerasHub traces `generate`,
    or an export traces a serving function, a method of the model that owns
    the traced function is on the stack: `predict_step`, `train_step`,
    `__call__`, `generate_step`, `call_with_cache`. Methods are found by their
    `self` argument (or closure variable). Only used at trace time.

    Returns:
        A list of `keras.Model` objects, innermost first, without repeats.
    """
    models, seen = [], set()
    frame = sys._getframe(1)
    # The whole stack (a few hundred frames while tracing, microseconds to
    # walk): the owner of a traced function can sit far above the slot.
    while frame is not None:
        code = frame.f_code
        takes_self = code.co_argcount and code.co_varnames[0] == "self"
        if takes_self or "self" in code.co_freevars:
            owner = frame.f_locals.get("self")
            if isinstance(owner, keras.Model) and id(owner) not in seen:
                seen.add(id(owner))
                models.append(owner)
        frame = frame.f_back
    return models


def row_blocks(setup, tensor):
    """`tensor` cut along its first axis into the row blocks of a setup.

    Args:
        setup: a `Parallel` (equal blocks, one per child) or a `BatchSplit`,
            whose blocks may be empty and, for a routed split (task
            routing), have bounds that are graph tensors: each block is a
            slice between the split's row offsets, the same op for ints and
            tensors.
        tensor: a tensor with the batch first.

    Returns:
        A list of tensors, one per child of `setup`.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.composition import BatchSplit
    >>> from keras_adapters.layers.adapter_slot import row_blocks
    >>> [block.shape[0] for block in row_blocks(BatchSplit("a", "b", "c", batch_sizes=[1, 0, 2]), np.zeros((3, 4)))]
    [1, 0, 2]
    """
    if isinstance(setup, Parallel):
        return ops.split(tensor, len(setup.children), axis=0)
    return [tensor[start:end] for start, end in setup.row_bounds()]


@contextlib.contextmanager
def unlocked_state(layer):
    """Lets a built layer take new sublayers, as Keras' `Dense.enable_lora`."""
    layer._tracker.unlock()
    try:
        yield
    finally:
        layer._tracker.lock()


@keras.saving.register_keras_serializable(package="keras_adapters")
class AdapterSlot(keras.layers.Layer):
    """A transformer branch's dropout followed by the active adapter setup.

    KerasHub's `TransformerEncoder` and `TransformerDecoder` compute each
    branch as `x = dropout(sublayer(x)); x = x + residual` (then a layer norm
    in post-LN blocks). The slot takes the dropout's place, so the adapters
    sit exactly where Houlsby et al. put them: on the sublayer output, after
    its dropout, before the residual add and the layer norm. The slot holds
    any number of named adapters (and AdapterFusion layers) and applies the
    active setup: a name, or a composition block from
    `keras_adapters.composition`. With no active setup it is the plain
    dropout.

    The active setup is Python state read when the slot's `call` runs, so a
    traced function (Keras' predict/test/train functions, KerasHub's
    `generate_function`) keeps the setup it was traced with. Each time the
    slot is traced it notes the models running the trace (`traced_by`); the
    backbone resets their traced functions when its setup changes.

    Args:
        dropout_rate: float. Rate of the branch dropout it replaces.
        adapters: dict of name to serialized `AdapterLayer`.
        fusions: dict of fusion to serialized `AdapterFusion`; keys in any
            form `fusion_key` takes (its config writes the string form
            "a+b"). The slot's `fusions` are keyed by tuples of names.
        active_setup: the setup applied in `call` (config form).
        **kwargs: base layer arguments.

    Example:

    >>> import numpy as np
    >>> from keras_adapters.layers import AdapterLayer, AdapterSlot
    >>> slot = AdapterSlot(dropout_rate=0.1)
    >>> slot.build((None, 4, 16))
    >>> slot.add_adapter("task", AdapterLayer(4, initialization="zero_up"))
    >>> slot.active_setup = "task"
    >>> x = np.ones((1, 4, 16), "float32")
    >>> bool(np.allclose(slot(x), x))
    True
    """

    def __init__(self, dropout_rate=0.0, adapters=None, fusions=None, active_setup=None, **kwargs):
        super().__init__(**kwargs)
        self.dropout_rate = dropout_rate
        self.supports_masking = True
        self.branch_dropout = keras.layers.Dropout(
            dropout_rate, dtype=self.dtype_policy, name="branch_dropout"
        )
        self.adapters = {
            name: keras.layers.deserialize(serialized) for name, serialized in (adapters or {}).items()
        }
        # Two parallel lists rather than a dict keyed by tuples: TensorFlow's
        # SavedModel cannot save a tracked dict with non-string keys.
        self._fusion_keys = [fusion_key(key) for key in (fusions or {})]
        self._fusion_layers = [keras.layers.deserialize(serialized) for serialized in (fusions or {}).values()]
        self._setup = parse_setup(active_setup)
        self._traced_by = weakref.WeakSet()

    @property
    def traced_by(self):
        """The models whose traced functions ran this slot (weakly held)."""
        return list(self._traced_by)

    @property
    def fusions(self):
        """The `AdapterFusion` layers, keyed by fusion key (tuple of names).

        A new dict on each access: add layers with `add_fusion`. (Being the
        first attribute that holds them, it also names their path in
        `.keras` files, ".../fusions/adapter_fusion", as before.)
        """
        return dict(zip(self._fusion_keys, self._fusion_layers))

    @property
    def active_setup(self):
        """The setup applied in `call` (None: no adapter)."""
        return self._setup

    @active_setup.setter
    def active_setup(self, setup):
        self._setup = parse_setup(setup)

    def build(self, inputs_shape):
        self._hidden_shape = tuple(inputs_shape)
        for layer in list(self.adapters.values()) + list(self.fusions.values()):
            if not layer.built:
                layer.build(inputs_shape)
        self.built = True

    def _build_added(self, layer):
        if self.built and not layer.built:
            # Build under the slot's name so variable paths stay unique.
            with keras.name_scope(self.name, caller=self):
                layer.build(self._hidden_shape)

    def add_adapter(self, name, adapter):
        """Adds (and builds) a named adapter; it is not activated."""
        if name in self.adapters:
            raise KerasAdaptersError(f"Slot {self.name!r} already holds adapter {name!r}.")
        with unlocked_state(self):
            self.adapters[name] = adapter
        self._build_added(adapter)

    def add_fusion(self, key, fusion):
        """Adds (and builds) an `AdapterFusion` layer for fusion `key`.

        Args:
            key: the fused adapter names, in any form `fusion_key` takes.
            fusion: the `AdapterFusion` layer.
        """
        key = fusion_key(key)
        if key in self._fusion_keys:
            raise KerasAdaptersError(f"Slot {self.name!r} already holds fusion {fusion_name(key)!r}.")
        with unlocked_state(self):
            self._fusion_keys.append(key)
            self._fusion_layers.append(fusion)
        self._build_added(fusion)

    def remove(self, name):
        """Removes an adapter (by name) or fusion layer (by key) and stops tracking it."""
        with unlocked_state(self):
            if isinstance(name, str) and name in self.adapters:
                layer = self.adapters.pop(name)
            else:
                index = self._fusion_keys.index(fusion_key(name))
                del self._fusion_keys[index]
                layer = self._fusion_layers.pop(index)
            self._tracker.untrack(layer)

    def call(self, inputs, training=None):
        if tracing():
            # Python runs here only while tracing: note whose compiled
            # functions now hold this slot's setup.
            self._traced_by.update(models_on_stack())
        x = self.branch_dropout(inputs, training=training)
        return self._apply(self._setup, x, training)

    def _apply(self, setup, x, training):
        if setup is None:
            return x
        if isinstance(setup, str):
            # A setup may name adapters that skip this layer (`layers=`).
            adapter = self.adapters.get(setup)
            return x if adapter is None else adapter(x, training=training)
        if isinstance(setup, Stack):
            for child in setup.children:
                x = self._apply(child, x, training)
            return x
        if isinstance(setup, Average):
            outputs = [self._apply(child, x, training) for child in setup.children]
            return sum(ops.cast(w, x.dtype) * out for w, out in zip(setup.weights, outputs))
        if isinstance(setup, Fuse):
            fusion = self.fusions.get(setup.key)
            outputs = [self._apply(child, x, training) for child in setup.children]
            return x if fusion is None else fusion(x, outputs)
        if isinstance(setup, (BatchSplit, Parallel)):
            parts = row_blocks(setup, x)
            outputs = [self._apply(child, part, training) for child, part in zip(setup.children, parts)]
            return ops.concatenate(outputs, axis=0)
        raise KerasAdaptersError(f"Unsupported adapter setup {setup!r}.")

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dropout_rate": self.dropout_rate,
                "adapters": {name: keras.layers.serialize(a) for name, a in self.adapters.items()},
                # JSON object keys are strings: the fusion's string form.
                "fusions": {fusion_name(key): keras.layers.serialize(f) for key, f in self.fusions.items()},
                "active_setup": setup_config(self._setup),
            }
        )
        return config

