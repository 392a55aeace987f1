"""Composition blocks: how several adapters combine in one forward pass.

A backbone's active setup is a name, a list of names (a `Stack`), or one of
these blocks, nested where it makes sense:

- `Stack("lang", "task")`: each adapter's output feeds the next.
- `Average("a", "b", weights=[0.7, 0.3])`: weighted average of the adapters'
  outputs on the same input.
- `Fuse("a", "b")`: AdapterFusion (Pfeiffer et al. 2021): a learned
  attention over the adapters' outputs, per token and per layer.
- `BatchSplit("a", "b", batch_sizes=[2, 3])`: rows of one batch go to
  different adapters (multi-task inference in one call).
- `Parallel("a", "b")`: every example goes through every adapter; the
  backbone repeats its input batch, and output rows `[i*B:(i+1)*B]` belong
  to the i-th adapter.

Each block serializes to a small JSON-compatible dict, so the active setup
is saved with the model. Anything malformed raises `KerasAdaptersError` (a
`ValueError`) that says what is allowed.

A fusion is identified by the tuple of the adapter names it fuses
(`Fuse("a", "b").key == ("a", "b")`). Where a string is needed (JSON object
keys, messages, `fusion_names`), `fusion_name` and `fusion_key` convert
between that tuple and the string form `"a+b"`; adapter names cannot contain
`"+"`, so the conversion is lossless.
"""

from keras_adapters.composition.blocks import (
    AdapterSetup,
    Average,
    BatchSplit,
    Fuse,
    Parallel,
    Stack,
    is_finite_number,
    parse_setup,
)
from keras_adapters.composition.fusion_keys import FUSION_SEPARATOR, fusion_key, fusion_name
from keras_adapters.composition.rules import COMPOSITION_RULES, check_composition
from keras_adapters.composition.setups import fusions_in, setup_block, setup_config, setup_names

__all__ = [
    "AdapterSetup",
    "Stack",
    "Average",
    "Fuse",
    "BatchSplit",
    "Parallel",
    "is_finite_number",
    "fusion_key",
    "fusion_name",
    "parse_setup",
    "setup_config",
    "setup_block",
    "setup_names",
    "fusions_in",
    "check_composition",
    "COMPOSITION_RULES",
    "FUSION_SEPARATOR",
]
