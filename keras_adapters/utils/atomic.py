"""Atomic writes: a reader sees the old state or the complete new one."""

import contextlib
import os
import shutil
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _finalize_tree(path):
    """fsyncs every file and gives the tree the permissions of a plain mkdir.

    Temporary directories are created private (0700); the published
    directory should be readable like any other (e.g. by a TF Serving
    process running as another user).
    """
    mask = _umask()
    os.chmod(path, 0o777 & ~mask)
    for root, directories, files in os.walk(path):
        for name in directories:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            file_path = os.path.join(root, name)
            os.chmod(file_path, 0o666 & ~mask)
            with open(file_path, "rb") as f:
                os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temporary directory that becomes `path` on success.

    The directory is built next to `path` (same filesystem) and renamed into
    place only after the block finishes, so an interrupted write (crash,
    Ctrl-C) never leaves a half-written `path`. On error the temporary
    directory is removed and `path` is left as it was.

    Args:
        path: the directory to create.
        overwrite: replace an existing `path`; otherwise it is an error.

    Raises:
        FileExistsError: if `path` exists and `overwrite` is False.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"{path} already exists; pass overwrite=True to replace it."
        )
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.partial-", dir=parent)
    try:
        yield staging
        _finalize_tree(staging)
        if os.path.exists(path):
            retired = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=parent)
            os.rmdir(retired)
            os.replace(path, retired)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(path, mode="w", **open_kwargs):
    """Opens a temporary file that replaces `path` when the block succeeds."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.partial-", dir=parent)
    os.close(fd)
    try:
        with open(staging, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(staging)
        raise
