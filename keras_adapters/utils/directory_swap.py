"""Putting a complete directory in place of another in one step.

On Linux, `renameat2(RENAME_EXCHANGE)` swaps two directories atomically.
Where it is not available (other systems, file systems without it) the old
directory is first renamed to a hidden `.old-` name and the new one renamed
into place; a process killed between the two renames leaves the old copy
under that name, and `keras_adapters.utils.leftovers.recover_leftovers` puts
it back on the next write.
"""

import ctypes
import errno
import functools
import os
import secrets
import sys

from keras_adapters.utils.leftovers import (
    OLD,
    fsync_directory,
    in_progress,
    remove_path,
    temporary_prefix,
)

__all__ = ["exchange", "switch_in"]

# linux/fs.h
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2():
    """glibc's `renameat2`, or None where it does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def exchange(first, second):
    """Swaps two paths in one atomic step.

    Returns:
        True when swapped; False where the system or file system cannot
        (then nothing changed).

    Raises:
        OSError: for any other failure.
    """
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), first, None, second)


def switch_in(staging, path):
    """Puts the complete directory `staging` at `path`.

    Afterwards `staging` holds the old directory (to be removed) or nothing.
    At no instant is `path` missing or incomplete, except in the two-rename
    fallback, where the old copy waits under an `.old-` name that
    `recover_leftovers` renames back.
    """
    parent = os.path.dirname(path)
    if not os.path.lexists(path):
        os.rename(staging, path)
    elif not exchange(staging, path):
        retired = os.path.join(parent, temporary_prefix(path, OLD) + secrets.token_hex(4))
        in_progress.add(retired)
        try:
            os.rename(path, retired)
            try:
                os.rename(staging, path)
            except BaseException:
                if not os.path.lexists(path):
                    os.rename(retired, path)
                raise
            remove_path(retired)
        finally:
            in_progress.discard(retired)
    fsync_directory(parent)
