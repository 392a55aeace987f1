"""What a new adapter must satisfy on any backbone: a usable name and a
bottleneck no wider than `MAX_BOTTLENECK_PER_HIDDEN` x the hidden size."""

import re

from keras_adapters.adapter_kinds import uses_bottleneck
from keras_adapters.errors import KerasAdaptersError

_ADAPTER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")

#: The widest bottleneck allowed, in multiples of the hidden size. An adapter
#: is meant to be narrower than the model; 4x is the feed-forward expansion
#: of BERT/GPT-2 blocks, so an adapter never outgrows the sublayer it adapts,
#: and a typo (`--bottleneck 100000`) is refused instead of allocating until
#: memory runs out.
MAX_BOTTLENECK_PER_HIDDEN = 4


def validate_adapter_name(name):
    """Checks an adapter name: 1-64 characters, a letter first.

    Args:
        name: the proposed name.

    Raises:
        KerasAdaptersError: for anything else (names become file and
            variable path parts, so no spaces, slashes or newlines).
    """
    if not isinstance(name, str) or not _ADAPTER_NAME.fullmatch(name):
        raise KerasAdaptersError(
            f"Invalid adapter name {name!r}: use 1-64 characters, starting with a "
            "letter, then letters, digits, '_', '-' or '.'."
        )


def check_bottleneck(name, config, hidden_dim):
    """Refuses a bottleneck wider than `MAX_BOTTLENECK_PER_HIDDEN` x hidden size.

    Args:
        name: the adapter's name, for the message.
        config: its `AdapterConfig`.
        hidden_dim: the width of the branches it adapts.

    Raises:
        KerasAdaptersError: if the resolved bottleneck is too wide.
    """
    if not uses_bottleneck(config.kind):
        return  # LoRA, (IA)^3: no bottleneck
    bottleneck = config.resolve_bottleneck(hidden_dim)
    limit = MAX_BOTTLENECK_PER_HIDDEN * hidden_dim
    if bottleneck > limit:
        raise KerasAdaptersError(
            f"Adapter {name!r}: bottleneck {bottleneck} is too wide for this backbone, whose "
            f"hidden size is {hidden_dim}; the bottleneck may be at most {limit} "
            f"({MAX_BOTTLENECK_PER_HIDDEN} x the hidden size)."
        )
