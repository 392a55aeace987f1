"""Disk usage of saved artefacts (adapter directories, exports, checkpoints)."""

import os


def directory_bytes(path):
    """Total size in bytes of the files under `path`, or of the file `path`.

    Args:
        path: a directory (walked recursively) or a file.

    Returns:
        An int: the sum of the sizes of every file under `path`.

    Raises:
        FileNotFoundError: if `path` does not exist.

    Example:

    >>> import os, tempfile
    >>> from keras_adapters.utils.sizes import directory_bytes
    >>> root = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "sub"))
    >>> for name, size in (("a.bin", 3), ("sub/b.bin", 5)):
    ...     with open(os.path.join(root, name), "wb") as f:
    ...         _ = f.write(b"x" * size)
    >>> directory_bytes(root), directory_bytes(os.path.join(root, "a.bin"))
    (8, 3)
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        return os.path.getsize(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No such file or directory: {path!r}.")
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )
