"""The one exception type of `keras_adapters.data`."""

from keras_adapters.errors import KerasAdaptersError


class DataError(KerasAdaptersError):
    """A dataset spec, file or installed asset that cannot be used.

    Every bad-input problem found while loading a dataset raises this type,
    with a message of one paragraph that says what was wrong and what is
    allowed instead. It subclasses `ValueError`, so callers that already
    catch `ValueError` keep working.

    Example:

    >>> from keras_adapters.data import DataError
    >>> try:
    ...     raise DataError("Column 'txt' not found.")
    ... except ValueError as e:
    ...     print(e)
    Column 'txt' not found.
    """
