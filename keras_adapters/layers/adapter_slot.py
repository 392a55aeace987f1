"""`AdapterSlot`: the place on a transformer branch where adapters plug in."""

import contextlib

import keras


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
    """A transformer branch's dropout followed by the active adapters.

    KerasHub's `TransformerEncoder` and `TransformerDecoder` compute each
    branch as `x = dropout(sublayer(x)); x = x + residual` (then a layer norm
    in post-LN blocks). The slot takes the dropout's place, so the adapters
    sit exactly where Houlsby et al. put them: on the sublayer output, after
    its dropout, before the residual add and the layer norm. The slot holds
    any number of named adapters; the active ones are applied in order
    (a stack). With no active adapter the slot is the plain dropout.

    Args:
        dropout_rate: float. Rate of the branch dropout it replaces.
        adapters: dict of name to serialized `AdapterLayer` (as written by
            `get_config`); usually empty, adapters are added with
            `add_adapter`.
        active_adapters: list of adapter names applied in `call`.
        **kwargs: base layer arguments.

    Example:

    >>> import numpy as np
    >>> slot = AdapterSlot(dropout_rate=0.1)
    >>> slot.build((None, 4, 16))
    >>> slot.add_adapter("task", AdapterLayer(4, initialization="zero_up"))
    >>> slot.active_adapters = ["task"]
    >>> x = np.ones((1, 4, 16), "float32")
    >>> bool(np.allclose(slot(x), x))
    True
    """

    def __init__(self, dropout_rate=0.0, adapters=None, active_adapters=(), **kwargs):
        super().__init__(**kwargs)
        self.dropout_rate = dropout_rate
        self.supports_masking = True
        self.branch_dropout = keras.layers.Dropout(
            dropout_rate, dtype=self.dtype_policy, name="branch_dropout"
        )
        self.adapters = {
            name: keras.layers.deserialize(serialized)
            for name, serialized in (adapters or {}).items()
        }
        self._active = []
        self.active_adapters = active_adapters

    @property
    def active_adapters(self):
        """Names of the adapters applied in `call`, in order."""
        return tuple(self._active)

    @active_adapters.setter
    def active_adapters(self, names):
        names = list(names or ())
        unknown = [n for n in names if n not in self.adapters]
        if unknown:
            raise ValueError(
                f"Unknown adapter(s) {unknown} in slot {self.name!r}; it holds "
                f"{sorted(self.adapters)}."
            )
        self._active = names

    def build(self, inputs_shape):
        self._hidden_shape = tuple(inputs_shape)
        for adapter in self.adapters.values():
            if not adapter.built:
                adapter.build(inputs_shape)
        self.built = True

    def add_adapter(self, name, adapter):
        """Adds (and builds) a named adapter; it is not activated."""
        if name in self.adapters:
            raise ValueError(f"Slot {self.name!r} already holds an adapter {name!r}.")
        with unlocked_state(self):
            self.adapters[name] = adapter
        if self.built and not adapter.built:
            # Build under the slot's name so variable paths stay unique.
            with keras.name_scope(self.name, caller=self):
                adapter.build(self._hidden_shape)

    def call(self, inputs, training=None):
        x = self.branch_dropout(inputs, training=training)
        for name in self._active:
            x = self.adapters[name](x, training=training)
        return x

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dropout_rate": self.dropout_rate,
                "adapters": {
                    name: keras.layers.serialize(adapter)
                    for name, adapter in self.adapters.items()
                },
                "active_adapters": list(self._active),
            }
        )
        return config
