"""Atomic writes: at every instant a path holds its complete old or complete new content.

Files (`atomic_file`) are written under a hidden temporary name next to the
target, flushed to disk and renamed over it. Directories (`atomic_directory`)
are built under a hidden temporary name next to the target and switched in
when complete (`keras_adapters.utils.directory_swap`: one atomic exchange on
Linux). What a killed process leaves behind is cleaned up first by every
write to the same path (`keras_adapters.utils.leftovers`).

A symbolic link at the target is followed: the file or directory it points to
is replaced and the link is kept.
"""

import contextlib
import json
import os
import tempfile

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.utils.directory_swap import switch_in
from keras_adapters.utils.leftovers import (
    PARTIAL,
    fsync_directory,
    in_progress,
    recover_leftovers,
    remove_path,
    temporary_prefix,
)

__all__ = ["atomic_directory", "atomic_file", "atomic_write_json", "check_writable"]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _resolve(path):
    """Absolute `path` with symbolic links followed."""
    return os.path.realpath(os.fspath(path))


def _create_temporary(path, kind, directory):
    """Creates a hidden temporary directory (or file) next to `path`.

    Returns:
        The temporary path; for a file, `(fd, path)`.

    Raises:
        KerasAdaptersError: if the parent cannot be created or written to
            (read-only file system, no permission, a parent that is a file).
    """
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        reason = "a parent is not a directory" if isinstance(e, (FileExistsError, NotADirectoryError)) else e.strerror
        raise KerasAdaptersError(
            f"Cannot write {path}: cannot create {e.filename or parent} ({reason}). "
            "Choose a location you can write to."
        ) from None
    try:
        if directory:
            return tempfile.mkdtemp(prefix=temporary_prefix(path, kind), dir=parent)
        return tempfile.mkstemp(prefix=temporary_prefix(path, kind), dir=parent)
    except OSError as e:
        raise KerasAdaptersError(
            f"Cannot write {path}: its directory {parent} is not writable ({e.strerror or e}). "
            "Choose a location you can write to."
        ) from None


def check_writable(path):
    """Raises a clear error now if `path` could not be written atomically.

    Creates (and removes) a temporary directory next to `path`, which is what
    `atomic_directory` and `atomic_file` need; parent directories are created.
    Use it before long work whose result goes to `path`.

    Args:
        path: the file or directory to be written.

    Raises:
        KerasAdaptersError: naming `path` and the reason (read-only file
            system, permission denied, a parent that is a file).
    """
    path = _resolve(path)
    probe = _create_temporary(path, PARTIAL, directory=True)
    os.rmdir(probe)


def _finalize_tree(path):
    """Fsyncs the tree and gives it the permissions of a plain `mkdir`/`open`.

    Temporary directories are created private (0700); the published
    directory should be readable like any other (e.g. by a TF Serving
    process running as another user).
    """
    mask = _umask()
    os.chmod(path, 0o777 & ~mask)
    for root, directories, files in os.walk(path):
        for name in directories:
            if not os.path.islink(os.path.join(root, name)):  # never what a link points to
                os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            file_path = os.path.join(root, name)
            if os.path.islink(file_path):
                continue
            os.chmod(file_path, 0o666 & ~mask)
            with open(file_path, "rb") as f:
                os.fsync(f.fileno())
        fsync_directory(root)


@contextlib.contextmanager
def atomic_directory(path, overwrite=False, keep_unfinished=None):
    """Yields a temporary directory that becomes `path` when complete.

    The directory is built next to `path` (same file system) and switched in
    only after the block finishes: at every instant `path` holds the complete
    old directory or the complete new one (see the module docstring). If the
    block raises, the temporary directory is removed and `path` is left as it
    was, unless `keep_unfinished` says to publish it anyway.

    Args:
        path: the directory to write. A symbolic link there is followed.
        overwrite: replace an existing `path`; otherwise it is an error.
        keep_unfinished: optional callable taking the exception that ended
            the block; if it returns True the directory is switched in as it
            is before the exception propagates (e.g. an interrupted training
            run whose checkpoint is usable).

    Raises:
        FileExistsError: if `path` exists and `overwrite` is False.
        KerasAdaptersError: if `path` is not a directory, or its location
            cannot be written.

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.utils.atomic import atomic_directory
    >>> path = os.path.join(tempfile.mkdtemp(), "out")
    >>> with atomic_directory(path) as staging:
    ...     with open(os.path.join(staging, "a.txt"), "w") as f:
    ...         _ = f.write("new")
    ...     os.path.exists(path)  # not yet
    False
    >>> os.listdir(path)
    ['a.txt']
    """
    path = _resolve(path)
    recover_leftovers(path)
    if os.path.lexists(path):
        if not os.path.isdir(path):
            raise KerasAdaptersError(f"{path} exists and is not a directory; not replacing it.")
        if not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    staging = _create_temporary(path, PARTIAL, directory=True)
    in_progress.add(staging)
    try:
        try:
            yield staging
        except BaseException as error:
            if keep_unfinished is not None and keep_unfinished(error):
                _finalize_tree(staging)
                switch_in(staging, path)
            raise
        _finalize_tree(staging)
        switch_in(staging, path)
    finally:
        # The unfinished new copy, or the old one the switch displaced.
        try:
            remove_path(staging)
        finally:
            in_progress.discard(staging)


@contextlib.contextmanager
def atomic_file(path, mode="w", **open_kwargs):
    """Opens a temporary file that replaces `path` when the block succeeds.

    The file gets the permissions of a plain `open` (0666 less the umask), is
    flushed to disk, and renamed over `path`; if the block raises, `path` is
    left as it was.

    Args:
        path: the file to write. A symbolic link there is followed.
        mode: a writing mode of `open`, e.g. `"w"` or `"wb"`.
        **open_kwargs: passed to `open` (e.g. `encoding`, `newline`).

    Raises:
        KerasAdaptersError: if the location cannot be written.

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.utils.atomic import atomic_file
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> with atomic_file(path, encoding="utf-8") as f:
    ...     _ = f.write("{}")
    >>> umask = os.umask(0); _ = os.umask(umask)
    >>> open(path).read(), os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    ('{}', True)
    """
    path = _resolve(path)
    recover_leftovers(path)
    fd, staging = _create_temporary(path, PARTIAL, directory=False)
    in_progress.add(staging)
    try:
        try:
            file = os.fdopen(fd, mode, **open_kwargs)
        except BaseException:
            os.close(fd)
            raise
        with file as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(staging, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(staging, path)
        fsync_directory(os.path.dirname(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(staging)
        raise
    finally:
        in_progress.discard(staging)


def atomic_write_json(path, data, indent=2, default=None):
    """Writes `data` as JSON to `path` atomically (sorted keys, final newline).

    Args:
        path: the file to write.
        data: a JSON-serializable object.
        indent: as in `json.dump`; None writes one compact line.
        default: as in `json.dump`: converts objects JSON cannot hold.

    Example:

    >>> import json, os, tempfile
    >>> from keras_adapters.utils.atomic import atomic_write_json
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> atomic_write_json(path, {"b": 1, "a": [1, 2]}, indent=None)
    >>> open(path).read()
    '{"a": [1, 2], "b": 1}\\n'
    """
    with atomic_file(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=indent, sort_keys=True, default=default)
        f.write("\n")
