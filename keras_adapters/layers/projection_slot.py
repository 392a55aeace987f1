"""`ProjectionSlot`: a projection of a transformer block with named adapters around it.

LoRA, (IA)^3 and parallel adapters change what a projection computes, not a
branch's output, so they live in a slot that takes the projection's place
(an attention `EinsumDense` or a feed-forward `Dense`), as `AdapterSlot`
takes the branch dropout's place. The slot calls the projection and applies
the active setup around it, by name, with the same composition blocks.
"""

import keras
from keras import ops

from keras_adapters.composition import (
    Average,
    BatchSplit,
    Parallel,
    Stack,
    parse_setup,
    setup_config,
    setup_names,
)
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.layers.adapter_slot import row_blocks, unlocked_state
from keras_adapters.layers.ia3 import IA3Adapter  # noqa: F401 (registers it for deserialize)
from keras_adapters.layers.lora import LoraAdapter  # noqa: F401 (registers it for deserialize)
from keras_adapters.layers.parallel_adapter import ParallelAdapter  # noqa: F401 (idem)


class SublayerInput:
    """Hands a sublayer's input from its first projection to its last one.

    A parallel adapter reads the input of the sublayer it sits beside (He et
    al. 2022) and adds to the sublayer's output. KerasHub's blocks call the
    sublayer's projections in one Python call, first to last (attention:
    query ... output; feed-forward: intermediate then output, back to back),
    so the first projection's slot records its input here and the last
    one's reads it in the same call. This keeps KerasHub's `call` untouched
    (no copied block code) and costs nothing in the traced graph. Plain
    Python state, not tracked by Keras.
    """

    def __init__(self):
        self.value = None


@keras.saving.register_keras_serializable(package="keras_adapters")
class ProjectionSlot(keras.layers.Layer):
    """A projection plus named LoRA, (IA)^3 and parallel adapters.

    In `call`: input-side adapters transform the input ((IA)^3 on the
    feed-forward activation), the projection runs, then output-side
    adapters change its output (LoRA adds `x A B`, (IA)^3 rescales,
    a parallel adapter adds its branch of the sublayer input). The active
    setup is a name or a composition block, as in `AdapterSlot`; names the
    slot does not hold are skipped. With nothing active it is the projection.

    After `merge(name)` the slot runs a merged copy of the projection with
    that adapter folded into its weights (the projection itself is left as
    it was) and skips that adapter: one projection, as fast as the base
    model. `unmerge()` drops the copy.

    Args:
        projection: the wrapped `Dense` or `EinsumDense` (built).
        adapters: dict of name to serialized adapter layer.
        active_setup: the setup applied in `call` (config form).
        **kwargs: base layer arguments.

    Example:

    >>> import numpy as np, keras
    >>> from keras_adapters.layers.lora import LoraAdapter
    >>> from keras_adapters.layers.projection_slot import ProjectionSlot
    >>> dense = keras.layers.Dense(8)
    >>> dense.build((None, 3, 16))
    >>> slot = ProjectionSlot(dense)
    >>> slot.add_adapter("task", LoraAdapter(kernel_shape=(16, 8), rank=2))
    >>> slot.active_setup = "task"
    >>> x = np.ones((1, 3, 16), "float32")
    >>> bool(np.array_equal(slot(x), dense(x)))  # B = 0 at the start
    True
    """

    def __init__(self, projection, adapters=None, active_setup=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(projection, dict):
            projection = keras.layers.deserialize(projection)
        self.projection = projection
        self.adapters = {
            name: keras.layers.deserialize(serialized) for name, serialized in (adapters or {}).items()
        }
        self._setup = parse_setup(active_setup)
        self._merged = None
        self.merged_name = None
        # Set by the surgery that installs the slots (never serialized):
        # where to record this projection's input, and where to read the
        # sublayer input from (see `SublayerInput`).
        self.records_input = None
        self.reads_input = None
        self.supports_masking = True
        if projection.built:
            self.built = True

    def __getattr__(self, name):
        # Only reached for names the slot itself lacks. Under the torch
        # backend a layer is a torch Module, which keeps its sub-layers
        # (`projection`, the adapters) in `_modules` and finds them here.
        try:
            return super().__getattr__(name)
        except AttributeError:
            pass
        # Public attributes of the projection (`units`, `kernel`, `equation`)
        # read through, so code that inspects the block's projections keeps
        # working.
        if name.startswith("_") or name == "projection":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.projection, name)

    @property
    def input_shape_of_projection(self):
        """The input shape the projection was built for."""
        shapes = getattr(self.projection, "_build_shapes_dict", None) or {}
        if len(shapes) != 1:
            raise KerasAdaptersError(f"Projection {self.projection.name!r} has no recorded build shape.")
        return tuple(next(iter(shapes.values())))

    @property
    def active_setup(self):
        return self._setup

    @active_setup.setter
    def active_setup(self, setup):
        self._setup = parse_setup(setup)

    @property
    def fusions(self):
        """No AdapterFusion here (only bottleneck adapters fuse)."""
        return {}

    @property
    def traced_by(self):
        """Traces are noted by the block's `AdapterSlot`s, which every trace runs."""
        return []

    def build(self, inputs_shape):
        if not self.projection.built:
            self.projection.build(inputs_shape)
        for adapter in self.adapters.values():
            if not adapter.built:
                adapter.build(self._adapter_input_shape(adapter, inputs_shape))
        self.built = True

    def _adapter_input_shape(self, adapter, inputs_shape):
        if getattr(adapter, "reads_sublayer_input", False):
            # The sublayer's input is the model's hidden width, as its output.
            hidden = self.projection.compute_output_shape(inputs_shape)[-1]
            return (None, None, hidden)
        return inputs_shape

    def add_adapter(self, name, adapter):
        """Adds (and builds) a named adapter; it is not activated."""
        if name in self.adapters:
            raise KerasAdaptersError(f"Slot {self.name!r} already holds adapter {name!r}.")
        with unlocked_state(self):
            self.adapters[name] = adapter
        if not adapter.built:
            with keras.name_scope(self.name, caller=self):
                adapter.build(self._adapter_input_shape(adapter, self.input_shape_of_projection))

    def remove(self, name):
        """Removes an adapter and stops tracking it."""
        with unlocked_state(self):
            adapter = self.adapters.pop(name)
            self._tracker.untrack(adapter)

    def set_trainable_adapters(self, names):
        """The projection (and a merged copy) frozen; of the adapters, `names` train."""
        self.trainable = True
        self.projection.trainable = False
        if self._merged is not None:
            self._merged.trainable = False
        for name, adapter in self.adapters.items():
            adapter.trainable = name in names

    # -- merging --------------------------------------------------------------

    def merge(self, name):
        """Runs a copy of the projection with adapter `name` folded in."""
        if self._merged is not None:
            raise KerasAdaptersError(f"Slot {self.name!r} already runs merged adapter {self.merged_name!r}.")
        adapter = self.adapters[name]
        if not hasattr(adapter, "merge_into"):
            raise KerasAdaptersError(f"Adapter {name!r} in {self.name!r} cannot be merged (it is not linear).")
        kernel = keras.ops.convert_to_numpy(self.projection.kernel)
        bias = getattr(self.projection, "bias", None)
        bias = None if bias is None else keras.ops.convert_to_numpy(bias)
        kernel, bias = adapter.merge_into(kernel, bias)
        copy = type(self.projection).from_config(
            {**self.projection.get_config(), "name": f"{self.projection.name}_merged"}
        )
        with unlocked_state(self):
            with keras.name_scope(self.name, caller=self):
                copy.build(self.input_shape_of_projection)
            copy.kernel.assign(kernel)
            if bias is not None:
                copy.bias.assign(bias)
            copy.trainable = False
            self._merged = copy
        self.merged_name = name

    def unmerge(self):
        """Drops the merged copy: the projection and its adapters run again."""
        if self._merged is None:
            return
        with unlocked_state(self):
            self._tracker.untrack(self._merged)
            self._merged = None
        self.merged_name = None

    # -- forward pass ---------------------------------------------------------

    def call(self, inputs, training=None):
        if self.records_input is not None:
            self.records_input.value = inputs
        sublayer_input = None
        if self.reads_input is not None:
            # Read once: a stale input never leaks into a later call.
            sublayer_input, self.reads_input.value = self.reads_input.value, None
        setup = self._running_setup()
        x = self._transform(setup, inputs)
        y = (self.projection if self._merged is None else self._merged)(x)
        if setup is None:
            return y
        return self._adapt(setup, x, y, sublayer_input, training)

    def _running_setup(self):
        """The active setup minus the merged adapter, or None if none applies here."""
        setup = self._setup
        if not any(name in self.adapters for name in setup_names(setup)):
            return None
        if self.merged_name is not None:
            # merge_adapter allows only a name or a stack of names.
            names = [name for name in setup_names(setup) if name != self.merged_name]
            setup = parse_setup(names)
            if not any(name in self.adapters for name in names):
                return None
        return setup

    def _split(self, setup, *tensors):
        """Each tensor cut into the row blocks of a BatchSplit/Parallel (see `row_blocks`)."""
        return [None if t is None else row_blocks(setup, t) for t in tensors]

    def _transform(self, setup, x):
        if setup is None:
            return x
        if isinstance(setup, str):
            adapter = self.adapters.get(setup)
            return x if adapter is None else adapter.transform_input(x)
        if isinstance(setup, Stack):
            for child in setup.children:
                x = self._transform(child, x)
            return x
        if isinstance(setup, Average):
            outputs = [self._transform(child, x) for child in setup.children]
            return sum(ops.cast(w, x.dtype) * out for w, out in zip(setup.weights, outputs))
        if isinstance(setup, (BatchSplit, Parallel)):
            (parts,) = self._split(setup, x)
            return ops.concatenate([self._transform(c, p) for c, p in zip(setup.children, parts)], axis=0)
        return x  # Fuse: bottleneck adapters only (COMPOSITION_RULES)

    def _adapt(self, setup, x, y, sublayer_input, training):
        if isinstance(setup, str):
            adapter = self.adapters.get(setup)
            if adapter is None:
                return y
            if getattr(adapter, "reads_sublayer_input", False) and sublayer_input is None:
                raise RuntimeError(
                    f"{self.name!r}: no sublayer input was recorded for parallel adapter {setup!r}; "
                    "this keras-hub calls its projections in an order keras-adapters does not know."
                )
            return adapter.adapt_output(x, y, sublayer_input, training=training)
        if isinstance(setup, Stack):
            for child in setup.children:
                y = self._adapt(child, x, y, sublayer_input, training)
            return y
        if isinstance(setup, Average):
            outputs = [self._adapt(child, x, y, sublayer_input, training) for child in setup.children]
            return sum(ops.cast(w, y.dtype) * out for w, out in zip(setup.weights, outputs))
        if isinstance(setup, (BatchSplit, Parallel)):
            xs, ys, ss = self._split(setup, x, y, sublayer_input)
            ss = ss or [None] * len(setup.children)
            outputs = [
                self._adapt(child, *parts, training) for child, parts in zip(setup.children, zip(xs, ys, ss))
            ]
            return ops.concatenate(outputs, axis=0)
        return y

    def compute_output_shape(self, inputs_shape):
        return self.projection.compute_output_shape(inputs_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "projection": keras.layers.serialize(self.projection),
            "adapters": {name: keras.layers.serialize(a) for name, a in self.adapters.items()},
            "active_setup": setup_config(self._setup),
        }
