"""The one base exception of keras-adapters."""


class KerasAdaptersError(ValueError):
    """Bad input that keras-adapters recognised: a message for the user.

    Every problem the library detects in what it was given (a dataset, a
    weight file, a run directory, an option) raises this type or a subclass,
    with a message that says what was wrong and what is allowed. The command
    line prints such errors in one paragraph; any other exception is a bug and
    keeps its traceback. It subclasses `ValueError`, so callers that already
    catch `ValueError` keep working.

    Example:

    >>> from keras_adapters.errors import KerasAdaptersError
    >>> try:
    ...     raise KerasAdaptersError("Bottleneck 100000 is wider than the model.")
    ... except ValueError as e:
    ...     print(e)
    Bottleneck 100000 is wider than the model.
    """


class UnsupportedBackboneError(KerasAdaptersError, TypeError):
    """A backbone class keras-adapters cannot put adapters into.

    Also a `TypeError` (the model given is of the wrong kind), so callers
    that catch `TypeError` keep working.

    Example:

    >>> from keras_adapters.errors import UnsupportedBackboneError
    >>> issubclass(UnsupportedBackboneError, (ValueError, TypeError))
    True
    """
