"""Layer selections: which transformer blocks get adapters.

The grammar of `AdapterConfig.layers`, the CLI's `--layers` and the tuner's
`layers=` choices: `None`/`"all"`, `"top:K"`/`"bottom:K"` (symbolic, resolved
per backbone) or explicit block indices. Blocks are counted as
`keras_adapters.surgery.layer_count.num_adaptable_blocks` counts them (BART:
encoder blocks, then decoder blocks). No Keras or TensorFlow is imported.
"""

import numbers

from keras_adapters.config_fields import raise_field_error
from keras_adapters.errors import KerasAdaptersError

__all__ = ["LAYERS_ALLOWED", "layers_label", "parse_layers", "resolve_layer_selection"]

#: What `layers` accepts, for messages.
LAYERS_ALLOWED = (
    "None or 'all' (every block), 'top:K' or 'bottom:K' (the last or first K blocks, "
    "K >= 1), or distinct block indices >= 0 such as [3, 4, 5] or '3,4,5'"
)


def _bad_layers(spec, problem):
    raise KerasAdaptersError(
        f"Invalid layer selection (`layers`) {spec!r}: {problem}. Allowed: {LAYERS_ALLOWED}."
    )


def parse_layers(spec):
    """Parses a layer selection into the form `AdapterConfig.layers` keeps.

    The one parser of layer selections: `AdapterConfig`, the CLI's
    `--layers` and the tuner's `layers=` choices all go through it. Blocks
    are counted as `keras_adapters.surgery.layer_count.num_adaptable_blocks`
    counts them (BART: encoder blocks, then decoder blocks). `"top:K"` and
    `"bottom:K"` stay symbolic: `resolve_layer_selection` turns them into
    indices for a given backbone.

    Args:
        spec: `None` or `"all"` (every block); `"top:K"` / `"bottom:K"`
            (the last / first K blocks); or explicit block indices: an int,
            a list or tuple of ints, or a comma-separated string `"3,4,5"`
            (the form the CLI takes).

    Returns:
        `None` (every block), a string `"top:K"` / `"bottom:K"` (spaces and
        leading zeros removed), or a tuple of ints in the order given.

    Raises:
        KerasAdaptersError: for anything else: K below 1, a negative or
            repeated index, an empty selection, an unknown word.

    Example:

    >>> from keras_adapters.layer_selection import parse_layers
    >>> parse_layers("top:3"), parse_layers(" 3, 4,5 "), parse_layers("all"), parse_layers(2)
    ('top:3', (3, 4, 5), None, (2,))
    >>> parse_layers("top:0")
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Invalid layer selection (`layers`) 'top:0': K must be at least 1. Allowed: None or 'all' (every block), 'top:K' or 'bottom:K' (the last or first K blocks, K >= 1), or distinct block indices >= 0 such as [3, 4, 5] or '3,4,5'.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "all":
            return None
        where, colon, count = text.partition(":")
        where, count = where.strip(), count.strip()
        if colon:
            if where not in ("top", "bottom") or not count.isdecimal():
                _bad_layers(spec, "expected 'top:K' or 'bottom:K' with an integer K")
            if int(count) < 1:
                _bad_layers(spec, "K must be at least 1")
            return f"{where}:{int(count)}"
        parts = [part.strip() for part in text.split(",")]
        if not all(part.isdecimal() for part in parts):
            _bad_layers(spec, "not a known word nor comma-separated indices")
        indices = tuple(int(part) for part in parts)
    elif isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        indices = (int(spec),)
    elif isinstance(spec, (list, tuple)):
        for index in spec:
            if isinstance(index, bool) or not isinstance(index, numbers.Integral):
                _bad_layers(spec, f"{index!r} is not an integer block index")
        indices = tuple(int(index) for index in spec)
    else:
        _bad_layers(spec, f"a {type(spec).__name__} is not a layer selection")
    if not indices:
        _bad_layers(spec, "the selection is empty")
    if any(index < 0 for index in indices):
        _bad_layers(spec, "block indices must be >= 0")
    if len(set(indices)) != len(indices):
        _bad_layers(spec, "each block index at most once")
    return indices


def layers_label(spec):
    """The text form of a layer selection: `"all"`, `"top:K"`, `"bottom:K"` or `"3,4,5"`.

    `parse_layers` reads it back (indices come back sorted); the tuner uses
    it as the value of its `layers` hyperparameter.

    Args:
        spec: anything `parse_layers` accepts.

    Returns:
        A string.

    Raises:
        KerasAdaptersError: if `parse_layers` refuses `spec`.

    Example:

    >>> from keras_adapters.layer_selection import layers_label
    >>> layers_label(None), layers_label([5, 3, 4]), layers_label("TOP:03")
    ('all', '3,4,5', 'top:3')
    """
    selection = parse_layers(spec)
    if selection is None:
        return "all"
    if isinstance(selection, str):
        return selection
    return ",".join(str(index) for index in sorted(selection))


def resolve_layer_selection(spec, num_blocks):
    """The sorted block indices a layer selection picks on a backbone.

    Args:
        spec: anything `parse_layers` accepts.
        num_blocks: how many transformer blocks the backbone has for
            adapters (`num_adaptable_blocks`: encoder + decoder for BART).

    Returns:
        A sorted tuple of block indices.

    Raises:
        KerasAdaptersError: if `spec` is invalid, `"top:K"`/`"bottom:K"`
            asks for more blocks than there are, or an index is not below
            `num_blocks`.

    Example:

    >>> from keras_adapters.layer_selection import resolve_layer_selection
    >>> resolve_layer_selection("top:2", 6), resolve_layer_selection("bottom:1", 6)
    ((4, 5), (0,))
    >>> resolve_layer_selection("top:7", 6)
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Invalid layer selection (`layers`) 'top:7': it asks for 7 layers; the backbone has 6 transformer blocks (BART counts its encoder and decoder blocks). Allowed: K from 1 to 6.
    """
    selection = parse_layers(spec)
    if selection is None:
        return tuple(range(num_blocks))
    if isinstance(selection, str):
        where, _, count = selection.partition(":")
        count = int(count)
        if count > num_blocks:
            raise KerasAdaptersError(
                f"Invalid layer selection (`layers`) {selection!r}: it asks for {count} layers; "
                f"the backbone has {num_blocks} transformer blocks (BART counts its encoder "
                f"and decoder blocks). Allowed: K from 1 to {num_blocks}."
            )
        return tuple(range(num_blocks - count, num_blocks)) if where == "top" else tuple(range(count))
    bad = [index for index in selection if index >= num_blocks]
    if bad:
        raise_field_error(
            "layers",
            bad,
            f"indices 0..{num_blocks - 1} (this backbone has {num_blocks} transformer "
            "blocks; BART counts its encoder and decoder blocks)",
        )
    return tuple(sorted(selection))
