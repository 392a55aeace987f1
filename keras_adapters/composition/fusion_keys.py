"""A fusion's identity: the tuple of the adapter names it fuses, and its
string form `"a+b"` for JSON object keys and messages."""

from keras_adapters.errors import KerasAdaptersError

#: Joins the adapter names of a fusion in its string form ("a+b").
FUSION_SEPARATOR = "+"


def fusion_key(fusion):
    """The tuple identifying a fusion, from any of its forms.

    Args:
        fusion: a `Fuse` block, a list or tuple of two or more adapter
            names, or the string form `"a+b"` (JSON files, configs written
            before fusions were keyed by tuples, user input).

    Returns:
        A tuple of adapter names.

    Raises:
        KerasAdaptersError: for anything else.

    Example:

    >>> from keras_adapters.composition import Fuse, fusion_key
    >>> fusion_key("a+b"), fusion_key(["a", "b"]), fusion_key(Fuse("a", "b"))
    (('a', 'b'), ('a', 'b'), ('a', 'b'))
    """
    # Imported here: `blocks` imports this module (`Fuse.name`).
    from keras_adapters.composition.blocks import Fuse

    if isinstance(fusion, Fuse):
        return fusion.key
    names = fusion.split(FUSION_SEPARATOR) if isinstance(fusion, str) else fusion
    if (
        not isinstance(names, (list, tuple))
        or len(names) < 2
        or not all(isinstance(name, str) and name and FUSION_SEPARATOR not in name for name in names)
    ):
        raise KerasAdaptersError(
            f"Invalid fusion {fusion!r}: use Fuse(...), a list of two or more adapter "
            f"names, or those names joined by {FUSION_SEPARATOR!r} (e.g. 'a+b')."
        )
    return tuple(names)


def fusion_name(key):
    """The string form of a fusion key, for JSON object keys and messages.

    Args:
        key: a fusion in any form `fusion_key` takes.

    Returns:
        The adapter names joined by `FUSION_SEPARATOR`.

    Example:

    >>> from keras_adapters.composition import fusion_name
    >>> fusion_name(("sentiment", "topic"))
    'sentiment+topic'
    """
    return FUSION_SEPARATOR.join(fusion_key(key))
