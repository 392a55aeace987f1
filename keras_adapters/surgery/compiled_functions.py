"""Keeping compiled (traced) functions in step with a backbone's adapters.

Keras traces `predict`, `evaluate` and `fit` into `predict_function`,
`test_function` and `train_function` once per model, and KerasHub caches
`generate_function` the same way; an adapter slot's active setup is Python
state read while tracing, so those functions keep the setup they were traced
with. Each `AdapterSlot` notes the models running a trace of it
(`AdapterSlot.traced_by`); after every verb that changes what runs, the
backbone calls `refresh_compiled_functions` on them.

Nothing in Keras or KerasHub is patched: the functions are the models' own
cache attributes, which `compile` resets the same way.
"""

import weakref

import keras

from keras_adapters.errors import KerasAdaptersError

#: Keras' traced functions: `<kind>_function`, rebuilt by `make_<kind>_function`.
_KERAS_FUNCTION_KINDS = ("train", "test", "predict")


class _RetraceOnCall:
    """Stands in for a stale traced function until its next call.

    A loop already running (a callback that switches adapters during `fit`)
    looks the function up again at each step, so the stand-in is a callable
    rather than None: it traces a new function with the current setup, puts
    it in place and runs it. For training it first refuses trainable weights
    that no longer match the optimizer's.
    """

    def __init__(self, model, kind):
        self._model = weakref.ref(model)
        self._kind = kind

    def __call__(self, *args, **kwargs):
        model = self._model()
        if self._kind == "train" and trainable_state_is_stale(model):
            if args:
                _give_back_jax_fit_state(model, args[0])
            check_trainable_state(model)
        getattr(model, f"make_{self._kind}_function")(force=True)
        return getattr(model, f"{self._kind}_function")(*args, **kwargs)


def _give_back_jax_fit_state(model, state):
    """Puts back into `model` the weights Keras' JAX `fit` took out for `state`.

    On the JAX backend, `fit` (and `train_on_batch`) move every variable's
    value out of the model into the state they pass to the train function,
    and put them back after the epoch; a refusal raised in between would
    leave the model without weights. A no-op on the other backends.

    Args:
        model: the Keras model being fitted.
        state: the train function's first argument, the lists of values of
            (trainable, non-trainable, optimizer, metrics) variables.
    """
    if keras.config.backend() != "jax" or not hasattr(model, "jax_state_sync"):
        return
    fields = ("trainable_variables", "non_trainable_variables", "optimizer_variables", "metrics_variables")
    model._jax_state = dict(zip(fields, state))
    model._jax_state_synced = False
    model.jax_state_sync()


def trainable_state_is_stale(model):
    """True if `model`'s optimizer was built for other trainable variables.

    Keras builds the optimizer once, for the trainable variables of that
    moment (at the first `fit` or `evaluate` after `compile`); training other
    ones needs `compile` again.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "built", False):
        return False
    known = getattr(optimizer, "_trainable_variables", None)
    if known is None:
        # Unknown optimizer internals: cannot prove the state is current.
        return True
    return {id(v) for v in known} != {id(v) for v in model.trainable_variables}


def check_trainable_state(model):
    """Refuses to train `model` with an optimizer built for other weights.

    Raises:
        KerasAdaptersError: if the trainable weights changed since the
            optimizer was built (e.g. `train_adapter` after `fit`).
    """
    if trainable_state_is_stale(model):
        raise KerasAdaptersError(
            f"Model {model.name!r} cannot train: its trainable weights changed (train_adapter, "
            "set_trainable_adapters or train_fusion) after its optimizer was built for the old "
            "ones. Call `model.compile(...)` again, with a new optimizer, before `fit`."
        )


def refresh_compiled_functions(models):
    """Makes the next predict/evaluate/fit/generate of `models` retrace.

    Call after anything changes what an adapted backbone runs. Functions not
    traced yet are left alone; for training, a model whose optimizer is
    already built gets the trainable-state check even before its first
    `fit`.

    Args:
        models: iterable of Keras models (those in `AdapterSlot.traced_by`).
    """
    for model in list(models):
        for kind in _KERAS_FUNCTION_KINDS:
            attribute = f"{kind}_function"
            if not hasattr(model, attribute):
                continue  # not (yet) a trainer: nothing traced
            current = getattr(model, attribute)
            if isinstance(current, _RetraceOnCall):
                continue
            optimizer = getattr(model, "optimizer", None)
            optimizer_built = optimizer is not None and getattr(optimizer, "built", False)
            if current is not None or (kind == "train" and optimizer_built):
                setattr(model, attribute, _RetraceOnCall(model, kind))
        # KerasHub's generate(): `make_generate_function` rebuilds it when
        # None, as after `compile`.
        if getattr(model, "generate_function", None) is not None:
            model.generate_function = None
