"""The output-directory policy: what may be written, and what may be replaced.

keras-adapters never deletes what it did not write. A directory is replaced
only when its record file (`run.json` for a run, `results.json` for a search)
shows that keras-adapters wrote it and it holds nothing else; the new
directory is built under a temporary name and switched in when complete
(`keras_adapters.utils.atomic.atomic_directory`).
"""

import dataclasses
import json
import os

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.utils.atomic import check_writable
from keras_adapters.utils.leftovers import recover_leftovers

__all__ = ["OutputLayout", "RunError", "prepare_output_dir"]


class RunError(KerasAdaptersError):
    """A run directory that cannot be written or read."""


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """What keras-adapters writes in one kind of output directory.

    `prepare_output_dir` replaces a directory only if it recognises it by
    this layout, so that an overwrite never deletes anything keras-adapters
    did not write.

    Attributes:
        kind: what the directory holds, for messages (`"run"`, `"search"`).
        record_file: the file whose content identifies the directory.
        is_record: callable taking the parsed record file (a dict); True if
            keras-adapters wrote it.
        entries: every name keras-adapters writes in the directory.
    """

    kind: str
    record_file: str
    is_record: object
    entries: tuple


# How many unexpected names a message lists.
_SHOWN_NAMES = 5


def _not_written_by_us(path, names, layout):
    """Why directory `path` (holding `names`) is not a `layout` directory; None if it is."""
    own = [name for name in names if name in layout.entries]
    # Hidden temporary copies of an entry, left by an interrupted write.
    own += [
        name for name in names
        if any(name.startswith(f".{entry}.partial-") or name.startswith(f".{entry}.old-")
               for entry in layout.entries)
    ]
    foreign = sorted(set(names) - set(own))
    if layout.record_file not in names:
        found = sorted(names)
        listed = ", ".join(found[:_SHOWN_NAMES]) + (", ..." if len(found) > _SHOWN_NAMES else "")
        return f"is not empty and holds no keras-adapters {layout.kind} (no {layout.record_file}; found {listed})"
    record_path = os.path.join(path, layout.record_file)
    try:
        with open(record_path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as e:  # unreadable, not UTF-8, not JSON
        return f"has a {layout.record_file} that keras-adapters cannot read ({e})"
    if not isinstance(record, dict) or not layout.is_record(record):
        return f"has a {layout.record_file} that keras-adapters did not write"
    if foreign:
        listed = ", ".join(foreign[:_SHOWN_NAMES]) + (", ..." if len(foreign) > _SHOWN_NAMES else "")
        return f"holds a keras-adapters {layout.kind} but also {listed}, which keras-adapters did not write"
    return None


def prepare_output_dir(path, overwrite, layout=None):
    """Checks that `path` may receive a new run (or search); deletes nothing.

    A missing or empty directory is fine. A directory that keras-adapters
    wrote (recognised by the content of its record file, `run.json` for a
    run, and holding nothing else) may be replaced with `overwrite`; anything
    else is refused, so user files are never deleted. The caller writes the
    new directory under a temporary name and switches it in with
    `keras_adapters.utils.atomic.atomic_directory` when it is complete, so
    the earlier one is kept until then (and kept if the new one fails).

    Also cleans up what an earlier, killed write to `path` left next to it,
    and checks now that the location can be written.

    Args:
        path: the directory. A symbolic link is followed: the directory it
            points to is checked (and later replaced); the link stays.
        overwrite: whether an earlier run (or search) there may be replaced.
        layout: the `OutputLayout` of what keras-adapters writes there
            (default: a run, `keras_adapters.training.run_directory.RUN_LAYOUT`;
            `keras_adapters.tuning` passes its search layout).

    Returns:
        The directory to write: `path` made absolute, with symbolic links
        resolved.

    Raises:
        RunError: if `path` is a file, holds something keras-adapters did not
            write (the message names the path and what was found), or holds
            an earlier run and `overwrite` is False.
        KerasAdaptersError: if the location cannot be written (read-only,
            no permission).

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.training.output_dir import prepare_output_dir
    >>> from keras_adapters.training.run_directory import RUN_LAYOUT
    >>> path = os.path.join(tempfile.mkdtemp(), "run")
    >>> prepare_output_dir(path, overwrite=False, layout=RUN_LAYOUT) == os.path.realpath(path)
    True
    >>> os.makedirs(path)
    >>> open(os.path.join(path, "notes.txt"), "w").close()
    >>> prepare_output_dir(path, overwrite=True, layout=RUN_LAYOUT)
    Traceback (most recent call last):
    ...
    keras_adapters.training.output_dir.RunError: Output directory ... is not empty and holds no keras-adapters run (no run.json; found notes.txt); refusing to replace it: keras-adapters only removes what it wrote. Choose a new or empty directory, or move those files.
    """
    if layout is None:
        # Imported here: the run-directory format builds on this module.
        from keras_adapters.training.run_directory import RUN_LAYOUT as layout
    target = os.path.realpath(os.fspath(path))
    if os.path.lexists(target) and not os.path.isdir(target):
        raise RunError(f"Output directory {os.fspath(path)!r} is a file. Choose a directory path.")
    recover_leftovers(target)
    names = os.listdir(target) if os.path.isdir(target) else []
    if names:
        problem = _not_written_by_us(target, names, layout)
        shown = os.fspath(path) if target == os.path.abspath(path) else f"{os.fspath(path)} (-> {target})"
        if problem:
            raise RunError(
                f"Output directory {shown!r} {problem}; refusing to replace it: keras-adapters "
                "only removes what it wrote. Choose a new or empty directory, or move those files."
            )
        if not overwrite:
            raise RunError(
                f"Output directory {shown!r} already holds a {layout.kind}. Pass --overwrite "
                "(overwrite=True) to replace it, or choose another --output-dir."
            )
    check_writable(target)
    return target


def holds_entries(path):
    """Whether directory `path` exists and is not empty."""
    return os.path.isdir(path) and bool(os.listdir(path))
