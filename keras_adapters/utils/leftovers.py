"""Temporary names of atomic writes, and cleaning up after killed writers.

`keras_adapters.utils.atomic` writes every file and directory under a hidden
temporary name next to its target, `.NAME.partial-PID-RANDOM` (a copy being
written) or `.NAME.old-PID-RANDOM` (an old directory moved aside by the
two-rename fallback of `keras_adapters.utils.directory_swap`). Names starting
with a dot are ignored by TF Serving (and by `ls`). A process killed halfway
leaves such names behind; `recover_leftovers`, which every atomic write to a
path calls first, removes the partial copies of processes that no longer run
and renames an `.old-` copy back when the path itself is missing (it is then
the only complete copy).
"""

import contextlib
import os
import re
import shutil

__all__ = ["leftovers", "recover_leftovers", "recover_leftovers_in"]

PARTIAL = "partial"
OLD = "old"
# `.NAME.partial-PID-RANDOM`; releases before the PID was recorded wrote
# `.NAME.partial-RANDOM`, whose owner is unknown (treated as gone).
LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<kind>partial|old)-(?:(?P<pid>\d+)-)?[a-z0-9_]+")

# Temporary paths this process is writing now (never cleaned as leftovers).
in_progress = set()

def temporary_prefix(path, kind):
    return f".{os.path.basename(path)}.{kind}-{os.getpid()}-"


def fsync_directory(path):
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


def remove_path(path):
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
        return path not in in_progress
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
    >>> from keras_adapters.utils.leftovers import leftovers
    >>> parent = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(parent, ".adapter.partial-999999999-abc"))
    >>> leftovers(os.path.join(parent, "adapter"))[0][0]
    'partial'
    """
    path = os.path.realpath(os.fspath(path))
    parent, name = os.path.split(path)
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    found = []
    for entry in entries:
        match = LEFTOVER.fullmatch(entry)
        if match and match["name"] == name:
            pid = int(match["pid"]) if match["pid"] else None
            found.append((match["kind"], os.path.join(parent, entry), pid))
    return sorted(found, key=lambda item: (item[0] != OLD, item[1]))


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
    >>> from keras_adapters.utils.leftovers import recover_leftovers
    >>> parent = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(parent, ".adapter.partial-999999999-abc"))
    >>> [action for action, _ in recover_leftovers(os.path.join(parent, "adapter"))]
    ['removed']
    >>> os.listdir(parent)
    []
    """
    path = os.path.realpath(os.fspath(path))
    actions = []
    for kind, leftover, pid in leftovers(path):
        if not _owner_gone(pid, leftover):
            continue
        if kind == OLD and not os.path.lexists(path):
            os.rename(leftover, path)
            actions.append(("restored", leftover))
        else:
            remove_path(leftover)
            actions.append(("removed", leftover))
    if actions:
        fsync_directory(os.path.dirname(path))
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
    names = {match["name"] for match in map(LEFTOVER.fullmatch, entries) if match}
    return [
        action
        for name in sorted(names)
        for action in recover_leftovers(os.path.join(directory, name))
    ]
