"""Atomic writes: at every instant a path holds its complete old or complete new content.

Files (`atomic_file`) are written under a hidden temporary name next to the
target, flushed to disk and renamed over it.

Directories (`atomic_directory`) are built under a hidden temporary name next
to the target and switched in when complete:

- no old directory: one rename;
- an old directory: on Linux, `renameat2(RENAME_EXCHANGE)` swaps the two in
  one step, then the old copy (now under the temporary name) is removed.
  Where the exchange is not available (other systems, file systems without
  it) the old directory is first renamed to a hidden `.old-` name and the new
  one renamed into place; a process killed between the two renames leaves the
  old copy under that name, and the next write to the path puts it back.

Temporary names are `.NAME.partial-PID-RANDOM` and `.NAME.old-PID-RANDOM`.
Names starting with a dot are ignored by TF Serving (and by `ls`). What a
killed process leaves behind is cleaned up by `recover_leftovers`, which
every write to the path calls first: partial copies of processes that no
longer run are removed, and an `.old-` copy is renamed back when the path
itself is missing (it is then the only complete copy).

A symbolic link at the target is followed: the file or directory it points to
is replaced and the link is kept.
"""

import contextlib
import ctypes
import errno
import functools
import json
import os
import re
import secrets
import shutil
import sys
import tempfile

from keras_adapters.errors import KerasAdaptersError

_PARTIAL = "partial"
_OLD = "old"
# `.NAME.partial-PID-RANDOM`; releases before the PID was recorded wrote
# `.NAME.partial-RANDOM`, whose owner is unknown (treated as gone).
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<kind>partial|old)-(?:(?P<pid>\d+)-)?[a-z0-9_]+")

# Temporary paths this process is writing now (never cleaned as leftovers).
_in_progress = set()

# linux/fs.h
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _resolve(path):
    """Absolute `path` with symbolic links followed."""
    return os.path.realpath(os.fspath(path))


def _temporary_prefix(path, kind):
    return f".{os.path.basename(path)}.{kind}-{os.getpid()}-"


def _fsync_directory(path):
    """Makes the renames in directory `path` durable (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows cannot open directories
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path):
    """Removes a file or directory tree; a missing path is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _owner_gone(pid, path):
    """Whether the process that wrote leftover `path` no longer runs."""
    if pid is None:
        return True
    if pid == os.getpid():
        return path not in _in_progress
    if os.name != "posix":
        return False  # no safe liveness check: keep it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # e.g. EPERM: it runs, as another user
    return False


def leftovers(path):
    """Temporary copies of `path` that this module left next to it.

    Args:
        path: a file or directory written with `atomic_file` or
            `atomic_directory`.

    Returns:
        List of `(kind, leftover path, pid)`: kind `"partial"` (a copy being
        written, or an old copy being removed) or `"old"` (an old directory
        moved aside by the two-rename fallback); pid of the writer, or None
        when unknown. Sorted with `"old"` first.

    Example:

    >>> import os, tempfile
    >>> parent = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(parent, ".adapter.partial-999999999-abc"))
    >>> leftovers(os.path.join(parent, "adapter"))[0][0]
    'partial'
    """
    path = _resolve(path)
    parent, name = os.path.split(path)
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _LEFTOVER.fullmatch(entry)
        if match and match["name"] == name:
            pid = int(match["pid"]) if match["pid"] else None
            found.append((match["kind"], os.path.join(parent, entry), pid))
    return sorted(found, key=lambda item: (item[0] != _OLD, item[1]))


def recover_leftovers(path):
    """Cleans up after writes to `path` that a killed process left unfinished.

    Leftovers of processes that still run are left alone. An `.old-` copy is
    renamed back to `path` when `path` is missing (it is the only complete
    copy); every other leftover is removed: an unfinished new copy, or an old
    copy that the new one already replaced.

    Args:
        path: a file or directory written with `atomic_file` or
            `atomic_directory`.

    Returns:
        List of `(action, leftover path)`, action `"restored"` or `"removed"`.

    Example:

    >>> import os, tempfile
    >>> parent = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(parent, ".adapter.partial-999999999-abc"))
    >>> [action for action, _ in recover_leftovers(os.path.join(parent, "adapter"))]
    ['removed']
    >>> os.listdir(parent)
    []
    """
    path = _resolve(path)
    actions = []
    for kind, leftover, pid in leftovers(path):
        if not _owner_gone(pid, leftover):
            continue
        if kind == _OLD and not os.path.lexists(path):
            os.rename(leftover, path)
            actions.append(("restored", leftover))
        else:
            _remove(leftover)
            actions.append(("removed", leftover))
    if actions:
        _fsync_directory(os.path.dirname(path))
    return actions


def recover_leftovers_in(directory):
    """`recover_leftovers` for every path in `directory` that has leftovers.

    For a directory of many atomically written entries, e.g. the versions of
    an export: a write of one version cleans up after all of them.

    Args:
        directory: the directory holding the written paths.

    Returns:
        List of `(action, leftover path)`, as `recover_leftovers`.
    """
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    names = {match["name"] for match in map(_LEFTOVER.fullmatch, entries) if match}
    return [
        action
        for name in sorted(names)
        for action in recover_leftovers(os.path.join(directory, name))
    ]


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
            return tempfile.mkdtemp(prefix=_temporary_prefix(path, kind), dir=parent)
        return tempfile.mkstemp(prefix=_temporary_prefix(path, kind), dir=parent)
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
    probe = _create_temporary(path, _PARTIAL, directory=True)
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
        _fsync_directory(root)


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


def _exchange(first, second):
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


def _switch(staging, path):
    """Puts the complete directory `staging` at `path`.

    Afterwards `staging` holds the old directory (to be removed) or nothing.
    At no instant is `path` missing or incomplete, except in the two-rename
    fallback, where the old copy waits under an `.old-` name that
    `recover_leftovers` renames back.
    """
    parent = os.path.dirname(path)
    if not os.path.lexists(path):
        os.rename(staging, path)
    elif not _exchange(staging, path):
        retired = os.path.join(parent, _temporary_prefix(path, _OLD) + secrets.token_hex(4))
        _in_progress.add(retired)
        try:
            os.rename(path, retired)
            try:
                os.rename(staging, path)
            except BaseException:
                if not os.path.lexists(path):
                    os.rename(retired, path)
                raise
            _remove(retired)
        finally:
            _in_progress.discard(retired)
    _fsync_directory(parent)


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
    staging = _create_temporary(path, _PARTIAL, directory=True)
    _in_progress.add(staging)
    try:
        try:
            yield staging
        except BaseException as error:
            if keep_unfinished is not None and keep_unfinished(error):
                _finalize_tree(staging)
                _switch(staging, path)
            raise
        _finalize_tree(staging)
        _switch(staging, path)
    finally:
        # The unfinished new copy, or the old one the switch displaced.
        try:
            _remove(staging)
        finally:
            _in_progress.discard(staging)


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
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> with atomic_file(path, encoding="utf-8") as f:
    ...     _ = f.write("{}")
    >>> open(path).read(), oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())
    ('{}', True)
    """
    path = _resolve(path)
    recover_leftovers(path)
    fd, staging = _create_temporary(path, _PARTIAL, directory=False)
    _in_progress.add(staging)
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
        _fsync_directory(os.path.dirname(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(staging)
        raise
    finally:
        _in_progress.discard(staging)


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
