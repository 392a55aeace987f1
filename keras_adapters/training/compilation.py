"""Whether a training run compiles its step with XLA (`TrainConfig.jit_compile`).

`"auto"` (the default) compiles with XLA where it was measured faster and
pays back its compile time: on the TensorFlow backend (`jit_compile=True`
is XLA) it trained the demo setting 1.78x faster than TensorFlow's plain
graph on the project's 2-core CPU, and on JAX `jax.jit` was 2.0x faster
than op-by-op execution (`python -m benchmarks backends`,
`benchmarks/results/backends.json`). XLA compiles each input shape once
before its first step (about 20 s for a one-block test model here, more
for MiniLM), so on TensorFlow `"auto"` uses it only for runs of at least
`AUTO_MIN_STEPS` training steps (the demo has 610); on JAX always (Keras'
own default there: `jax.jit` compiles quickly); never on PyTorch
(`torch.compile` was not faster there) or under a `tf.distribute`
strategy, where Keras does not compile with XLA. `"on"` asks for XLA and
fails where it cannot be had; `"off"` never compiles with it.
"""

import keras

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training.config import JIT_COMPILE_SETTINGS, XLA_UNDER_MIRRORED

__all__ = ["resolve_jit_compile"]

#: Fewest training steps for which `"auto"` compiles with XLA on TensorFlow: MiniLM's step
#: is ~0.4 s faster with XLA on 2 cores, which repays tens of seconds of
#: compiling after about a hundred steps; shorter runs start sooner without.
AUTO_MIN_STEPS = 100


def resolve_jit_compile(setting, strategy=None, steps=None):
    """The `jit_compile` argument of `Model.compile` for a `TrainConfig.jit_compile` setting.

    Args:
        setting: `"auto"`, `"on"` or `"off"`.
        strategy: the run's `tf.distribute.Strategy`, or None.
        steps: the run's training steps, or None when not known (then
            `"auto"` does not count them).

    Returns:
        True or False.

    Raises:
        KerasAdaptersError: for an unknown setting, or `"on"` under a
            `tf.distribute` strategy (Keras turns XLA off there).

    Example:

    >>> import keras
    >>> from keras_adapters.training.compilation import resolve_jit_compile
    >>> resolve_jit_compile("off"), resolve_jit_compile("on")
    (False, True)
    >>> resolve_jit_compile("auto", steps=610) == (keras.backend.backend() != "torch")
    True
    >>> resolve_jit_compile("auto", steps=12) == (keras.backend.backend() == "jax")
    True
    """
    if setting not in JIT_COMPILE_SETTINGS:
        raise KerasAdaptersError(
            f"`jit_compile` must be one of {', '.join(JIT_COMPILE_SETTINGS)}; got {setting!r}."
        )
    if setting == "off":
        return False
    if strategy is not None:
        if setting == "on":
            raise KerasAdaptersError(XLA_UNDER_MIRRORED)
        return False
    if setting == "on":
        return True
    backend = keras.backend.backend()
    if backend == "jax":
        return True  # Keras' own default there: op by op is 2x slower, jax.jit compiles fast
    return backend == "tensorflow" and (steps is None or steps >= AUTO_MIN_STEPS)
