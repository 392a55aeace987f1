"""Which Keras backend runs, and the clear error of what needs TensorFlow.

keras-adapters' models, adapters and training use `keras.ops` only and run on
every Keras 3 backend: TensorFlow, JAX and PyTorch (`KERAS_BACKEND`, read
once, when Keras is first imported). A few things are TensorFlow's by nature
(SavedModel export for TF Serving, `tf.distribute`): they call
`require_tensorflow_backend` first, so that on another backend they stop
with one line saying what needs TensorFlow, why, and what to run instead,
before they write anything.
"""

import keras

from keras_adapters.errors import KerasAdaptersError

__all__ = ["BACKENDS", "require_tensorflow_backend"]

#: The Keras backends keras-adapters runs on (the values of `KERAS_BACKEND`).
BACKENDS = ("tensorflow", "jax", "torch")


def require_tensorflow_backend(what, why="it is built on TensorFlow"):
    """Refuses to go on unless Keras runs on the TensorFlow backend.

    Args:
        what: what needs TensorFlow, as the start of a sentence
            (e.g. "SavedModel export").
        why: the reason, completing "... needs the TensorFlow backend
            because ...".

    Raises:
        KerasAdaptersError: if `keras.config.backend()` is not "tensorflow";
            the message names the backend in use and says to run the step
            in a process started with `KERAS_BACKEND=tensorflow`.

    Example:

    >>> import keras
    >>> from keras_adapters.backend_support import require_tensorflow_backend
    >>> if keras.config.backend() == "tensorflow":
    ...     require_tensorflow_backend("SavedModel export")  # returns None
    ... else:
    ...     try:
    ...         require_tensorflow_backend("SavedModel export")
    ...     except ValueError as e:
    ...         assert "KERAS_BACKEND=tensorflow" in str(e)
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        return
    raise KerasAdaptersError(
        f"{what} needs the TensorFlow backend because {why}; Keras runs on {backend!r} in this "
        "process (it reads KERAS_BACKEND once, when first imported). Run this step in a process "
        "started with KERAS_BACKEND=tensorflow: adapter files and run directories saved on any "
        "backend load there."
    )
