"""What a setup means: its JSON form, its block form, its adapter names and
its fusions."""

from keras_adapters.composition.blocks import AdapterSetup, Fuse, Stack, parse_setup


def setup_config(setup):
    """The JSON-compatible form of a setup (inverse of `parse_setup`).

    Args:
        setup: an adapter name, a list of names, or a composition block.

    Returns:
        A str, list or dict that `parse_setup` turns back into `setup`.

    Example:

    >>> from keras_adapters.composition import Stack, parse_setup, setup_config
    >>> parse_setup(setup_config(Stack("a", "b"))) == Stack("a", "b")
    True
    """
    setup = parse_setup(setup)
    if setup is None or isinstance(setup, str):
        return setup
    return setup.get_config()


def setup_block(setup):
    """A setup as one composition block (what `active_adapters` returns).

    As in adapter-hub, a name or a list of names is a `Stack`.

    Args:
        setup: None, an adapter name, a list of names, or a block.

    Returns:
        An `AdapterSetup`, or None when `setup` applies no adapter.

    Example:

    >>> from keras_adapters.composition import Fuse, setup_block
    >>> setup_block("a"), setup_block(["a", "b"]), setup_block(Fuse("a", "b"))
    (Stack('a'), Stack('a', 'b'), Fuse('a', 'b'))
    >>> setup_block(None) is None
    True
    """
    setup = parse_setup(setup)
    return Stack(setup) if isinstance(setup, str) else setup


def setup_names(setup):
    """Adapter names used by a setup.

    Args:
        setup: an adapter name, a list of names, or a composition block.

    Returns:
        The names, in order of first use, without repeats.

    Example:

    >>> from keras_adapters.composition import Fuse, Stack, setup_names
    >>> setup_names(Stack("a", Fuse("b", "c")))
    ['a', 'b', 'c']
    """
    setup = parse_setup(setup)
    if setup is None:
        return []
    if isinstance(setup, str):
        return [setup]
    return setup.adapter_names()


def fusions_in(setup):
    """Every `Fuse` block in a setup.

    Args:
        setup: an adapter name, a list of names, or a composition block.

    Returns:
        A list of the `Fuse` blocks, outermost first.

    Example:

    >>> from keras_adapters.composition import Fuse, Stack, fusions_in
    >>> fusions_in(Stack("a", Fuse("b", "c")))
    [Fuse('b', 'c')]
    """
    setup = parse_setup(setup)
    if not isinstance(setup, AdapterSetup):
        return []
    found = [setup] if isinstance(setup, Fuse) else []
    for child in setup.children:
        found += fusions_in(child)
    return found
