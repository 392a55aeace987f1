"""Reading the JSON files keras-adapters writes, with one-line errors that name the file."""

import json
import os

from keras_adapters.errors import KerasAdaptersError

__all__ = ["read_json_object"]


def read_json_object(path, what="JSON file"):
    """Reads a UTF-8 JSON file that must hold one object.

    Args:
        path: the file.
        what: how messages name the file (e.g. "Run file").

    Returns:
        The parsed dict.

    Raises:
        KerasAdaptersError: if the file cannot be read, is not UTF-8, is not
            valid (e.g. truncated) JSON or holds something other than an
            object; the message names the file.

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.utils.json_files import read_json_object
    >>> path = os.path.join(tempfile.mkdtemp(), "cut.json")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"format": "keras-adap')
    >>> read_json_object(path, "Run file")
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Run file '...cut.json' is not valid JSON (truncated or edited?): Unterminated string starting at: line 1 column 12 (char 11).
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise KerasAdaptersError(f"{what} {path!r} cannot be read: {e.strerror or e}.") from None
    except UnicodeDecodeError as e:
        raise KerasAdaptersError(
            f"{what} {path!r} is not UTF-8 text (byte offset {e.start}); it is damaged "
            "or not the file keras-adapters wrote."
        ) from None
    except (ValueError, RecursionError) as e:
        # JSONDecodeError, or a number too long to convert, or deep nesting.
        raise KerasAdaptersError(
            f"{what} {path!r} is not valid JSON (truncated or edited?): {e}."
        ) from None
    if not isinstance(data, dict):
        raise KerasAdaptersError(
            f"{what} {path!r} must hold a JSON object; it holds a JSON "
            f"{type(data).__name__}."
        )
    return data
