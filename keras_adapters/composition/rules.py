"""`COMPOSITION_RULES`: which adapter kinds each composition block accepts,
and `check_composition`, which enforces them."""

from keras_adapters.adapter_kinds import KINDS
from keras_adapters.composition.blocks import AdapterSetup, parse_setup
from keras_adapters.errors import KerasAdaptersError

#: Which adapter kinds (`keras_adapters.adapter_kinds.KINDS`) each block
#: accepts among the adapters below it, and whether they may be of several
#: kinds. Adapters of different kinds sit in different places (branch slots
#: for bottleneck adapters, projections for LoRA, (IA)^3 and parallel
#: adapters), and each place skips the names it does not hold, so `Stack`
#: applies all of them and `BatchSplit`/`Parallel` route rows to each whatever
#: their kinds. `Average` averages outputs of one place; across kinds it would
#: only scale each adapter down, so it takes one kind. `Fuse` attends over
#: bottleneck adapter outputs in a branch slot (AdapterFusion).
COMPOSITION_RULES = {
    "Stack": {"kinds": KINDS, "mixed_kinds": True},
    "BatchSplit": {"kinds": KINDS, "mixed_kinds": True},
    "Parallel": {"kinds": KINDS, "mixed_kinds": True},
    "Average": {"kinds": KINDS, "mixed_kinds": False},
    "Fuse": {"kinds": ("bottleneck",), "mixed_kinds": False},
}


def check_composition(setup, kinds):
    """Enforces `COMPOSITION_RULES` on a setup.

    Args:
        setup: an adapter name, a list of names, or a composition block.
        kinds: dict adapter name -> kind (`AdapterConfig.kind`).

    Returns:
        None; it raises if a rule is broken.

    Raises:
        KerasAdaptersError: for a block holding a kind it does not accept,
            or adapters of several kinds where the block takes one.

    Example:

    >>> from keras_adapters.composition import Average, Fuse, Stack, check_composition
    >>> kinds = {"a": "bottleneck", "b": "bottleneck", "q": "lora"}
    >>> check_composition(Stack("a", "q"), kinds)
    >>> check_composition(Fuse("a", "q"), kinds)
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: Fuse cannot combine lora adapter 'q': Fuse accepts bottleneck adapters only.
    """
    setup = parse_setup(setup)
    if not isinstance(setup, AdapterSetup):
        return
    block = type(setup).__name__
    rule = COMPOSITION_RULES[block]
    names = setup.adapter_names()
    for name in names:
        if kinds[name] not in rule["kinds"]:
            raise KerasAdaptersError(
                f"{block} cannot combine {kinds[name]} adapter {name!r}: {block} accepts "
                f"{', '.join(rule['kinds'])} adapters only."
            )
    found = sorted({kinds[name] for name in names})
    if not rule["mixed_kinds"] and len(found) > 1:
        raise KerasAdaptersError(
            f"{block} cannot mix adapter kinds ({', '.join(f'{n!r}: {kinds[n]}' for n in names)}): "
            f"its adapters must all be of one kind. Use Stack or BatchSplit to combine kinds."
        )
    for child in setup.children:
        check_composition(child, kinds)
