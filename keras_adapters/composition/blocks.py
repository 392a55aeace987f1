"""The composition blocks (`Stack`, `Average`, `Fuse`, `BatchSplit`,
`Parallel`) and `parse_setup`, which builds them from what users pass.

See `keras_adapters.composition` for what each block does.
"""

import itertools
import math
import numbers
from collections.abc import Sequence

from keras_adapters.composition.fusion_keys import fusion_name
from keras_adapters.errors import KerasAdaptersError


class AdapterSetup(Sequence):
    """Base class of composition blocks.

    A block is a sequence of its children, as in adapter-hub:
    `list(Stack("a", "b")) == ["a", "b"]`.

    Args:
        *children: adapter names (str) or nested blocks, at least one.

    Raises:
        KerasAdaptersError: without children, or for a child that is neither
            a name nor a block.

    Example:

    >>> from keras_adapters.composition import AdapterSetup, Average, Stack
    >>> isinstance(Stack("a", "b"), AdapterSetup)
    True
    >>> Stack("a", Average("b", "c")).adapter_names()
    ['a', 'b', 'c']
    """

    def __init__(self, *children):
        if not children:
            raise KerasAdaptersError(f"{type(self).__name__} needs at least one adapter.")
        self.children = [parse_setup(child) for child in children]
        if any(child is None for child in self.children):
            raise KerasAdaptersError(
                f"{type(self).__name__} got an empty child (None or []) in {list(children)!r}; "
                "each child is an adapter name or a block."
            )

    def adapter_names(self):
        """Every adapter name used, in order, without repeats."""
        names = []
        for child in self.children:
            for name in [child] if isinstance(child, str) else child.adapter_names():
                if name not in names:
                    names.append(name)
        return names

    def get_config(self):
        return {
            "type": type(self).__name__,
            "children": [child if isinstance(child, str) else child.get_config() for child in self.children],
        }

    def __getitem__(self, index):
        return self.children[index]

    def __len__(self):
        return len(self.children)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self):
        args = ", ".join(repr(child) for child in self.children)
        return f"{type(self).__name__}({args})"


class Stack(AdapterSetup):
    """Adapters applied one after the other.

    A list or tuple of names is a stack, so a stack compares equal to one.

    Args:
        *children: adapter names or blocks, in the order they apply.

    Example:

    >>> from keras_adapters import Stack
    >>> Stack("lang", "task").adapter_names()
    ['lang', 'task']
    >>> Stack("lang", "task") == ("lang", "task")
    True
    """

    def __eq__(self, other):
        if isinstance(other, (list, tuple)):
            try:
                other = Stack(*other)
            except KerasAdaptersError:  # not a valid setup: not equal
                return False
        return super().__eq__(other)


class Average(AdapterSetup):
    """Weighted average of the adapters' outputs (weights default to equal).

    Args:
        *children: adapter names or blocks.
        weights: list of floats, one per child, summing to 1.

    Example:

    >>> from keras_adapters import Average
    >>> Average("a", "b", weights=[0.75, 0.25]).weights
    [0.75, 0.25]
    """

    def __init__(self, *children, weights=None):
        super().__init__(*children)
        if weights is None:
            weights = [1.0 / len(self.children)] * len(self.children)
        if not isinstance(weights, (list, tuple)) or not all(is_finite_number(w) for w in weights):
            raise KerasAdaptersError(
                f"Average weights must be a list of finite numbers, one per adapter; got {weights!r}."
            )
        weights = [float(w) for w in weights]
        if len(weights) != len(self.children):
            raise KerasAdaptersError(
                f"Average got {len(weights)} weights for {len(self.children)} adapters; "
                "give one weight per adapter."
            )
        if abs(sum(weights) - 1.0) > 1e-6:
            raise KerasAdaptersError(f"Average weights must sum to 1; got {weights} (sum {sum(weights)}).")
        self.weights = weights

    def get_config(self):
        return {**super().get_config(), "weights": self.weights}


class Fuse(AdapterSetup):
    """AdapterFusion over trained adapters (names only, at least two).

    The fusion's weights are created with `backbone.add_fusion(Fuse(...))`
    and trained with `backbone.train_fusion(...)`, adapters frozen.

    Args:
        *children: two or more adapter names.

    Raises:
        KerasAdaptersError: for fewer than two names, or a nested block.

    Example:

    >>> from keras_adapters import Fuse
    >>> Fuse("sentiment", "topic").key
    ('sentiment', 'topic')
    >>> Fuse("sentiment", "topic").name
    'sentiment+topic'
    """

    def __init__(self, *children):
        super().__init__(*children)
        if len(self.children) < 2 or not all(isinstance(c, str) for c in self.children):
            raise KerasAdaptersError("Fuse needs two or more adapter names (not nested blocks).")

    @property
    def key(self):
        """The identity of this fusion's layers: the tuple of adapter names."""
        return tuple(self.children)

    @property
    def name(self):
        """The string form of `key` (`fusion_name`), e.g. `"a+b"`."""
        return fusion_name(self.key)


class BatchSplit(AdapterSetup):
    """Routes consecutive row blocks of a batch to different adapters.

    Args:
        *children: adapter names or blocks, one per row block.
        batch_sizes: list of ints: rows per child, in order.

    Example:

    >>> from keras_adapters import BatchSplit
    >>> BatchSplit("a", "b", batch_sizes=[2, 3]).batch_sizes
    [2, 3]
    >>> BatchSplit("a", "b", "c", batch_sizes=[2, 0, 3]).row_bounds()
    [(0, 2), (2, 2), (2, 5)]
    """

    def __init__(self, *children, batch_sizes):
        super().__init__(*children)
        if (
            not isinstance(batch_sizes, (list, tuple))
            or len(batch_sizes) != len(self.children)
            or not all(_is_integer(size) and size >= 0 for size in batch_sizes)
        ):
            raise KerasAdaptersError(
                f"BatchSplit needs one non-negative int batch size per adapter; got "
                f"{batch_sizes!r} for {len(self.children)} adapters."
            )
        self.batch_sizes = [int(size) for size in batch_sizes]
        self._row_offsets = None

    @classmethod
    def routed(cls, *children, row_offsets):
        """A split whose row blocks are only known when the graph runs (internal).

        For task routing (`keras_adapters.export.routing`): the rows of a
        batch sorted by task, each task's segment going through its own
        setup, with segment bounds computed in the traced graph. Unlike a
        user's `BatchSplit` it holds tensors, so it is never saved:
        `get_config` refuses it, and it equals only itself.

        Args:
            *children: adapter names or blocks, one per row block.
            row_offsets: one more offset than children, the first 0 and
                non-decreasing (Python ints or scalar int tensors): child
                `i` takes rows `row_offsets[i]:row_offsets[i + 1]`, none
                when they are equal.

        Returns:
            A `BatchSplit` with `batch_sizes` None.

        Example:

        >>> from keras_adapters import BatchSplit
        >>> BatchSplit.routed("a", "b", row_offsets=[0, 0, 4]).row_bounds()
        [(0, 0), (0, 4)]
        """
        split = cls.__new__(cls)
        AdapterSetup.__init__(split, *children)
        row_offsets = list(row_offsets)
        if len(row_offsets) != len(split.children) + 1:
            raise KerasAdaptersError(
                f"A routed BatchSplit needs {len(split.children) + 1} row offsets (one more than its "
                f"{len(split.children)} children); got {len(row_offsets)}."
            )
        split.batch_sizes = None
        split._row_offsets = row_offsets
        return split

    @property
    def is_routed(self):
        """Whether the row blocks are graph tensors (`BatchSplit.routed`)."""
        return getattr(self, "_row_offsets", None) is not None

    def row_bounds(self):
        """`(start, end)` rows of each child's block, in order.

        Python ints, or scalar tensors for a routed split: slicing
        `x[start:end]` cuts a block either way (empty when equal).
        """
        if self.is_routed:
            offsets = self._row_offsets
        else:
            offsets = [0]
            for size in self.batch_sizes:
                offsets.append(offsets[-1] + size)
        return list(itertools.pairwise(offsets))

    def get_config(self):
        if self.is_routed:
            raise KerasAdaptersError(
                "This BatchSplit routes rows by task inside a traced graph (its row blocks are "
                "tensors) and cannot be saved; give a BatchSplit int batch_sizes to save it."
            )
        return {**super().get_config(), "batch_sizes": self.batch_sizes}

    def __eq__(self, other):
        if self.is_routed or getattr(other, "is_routed", False):
            return self is other  # tensors have no value to compare while tracing
        return super().__eq__(other)


class Parallel(AdapterSetup):
    """Every example through every adapter, in one call (batch repeated).

    Only valid as the whole active setup.

    Args:
        *children: adapter names or blocks; the output batch holds the
            input batch once per child, in order.

    Example:

    >>> from keras_adapters import Parallel
    >>> Parallel("sentiment", "topic").adapter_names()
    ['sentiment', 'topic']
    """


_BLOCKS = {cls.__name__: cls for cls in (Stack, Average, Fuse, BatchSplit, Parallel)}

# Config keys each block takes besides "type" and "children".
_BLOCK_ARGUMENTS = {"Average": ("weights",), "BatchSplit": ("batch_sizes",)}


def is_finite_number(value):
    """Whether `value` is a usable weight: a real number, not bool/NaN/inf.

    Args:
        value: anything.

    Returns:
        True for a finite int or float (numpy scalars included).

    Example:

    >>> from keras_adapters.composition import is_finite_number
    >>> is_finite_number(0.5), is_finite_number(float("nan")), is_finite_number(True)
    (True, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _parse_block_config(config):
    """A block from its `get_config()` dict, every key checked."""
    block_type = config["type"]
    allowed = _BLOCK_ARGUMENTS.get(block_type, ())
    unknown = sorted(str(key) for key in config if key not in ("type", "children", *allowed))
    if unknown:
        raise KerasAdaptersError(
            f"Invalid {block_type} config: unknown key(s) {unknown}; it takes 'type', "
            f"'children'{''.join(f', {key!r}' for key in allowed)}."
        )
    children = config.get("children")
    if not isinstance(children, (list, tuple)):
        raise KerasAdaptersError(
            f"Invalid {block_type} config: 'children' must be a list of adapter names or "
            f"blocks; got {children!r}."
        )
    arguments = {key: config[key] for key in allowed if key in config}
    if block_type == "BatchSplit" and "batch_sizes" not in arguments:
        raise KerasAdaptersError("Invalid BatchSplit config: 'batch_sizes' is missing.")
    return _BLOCKS[block_type](*children, **arguments)


def parse_setup(setup):
    """Normalises what users pass as an active setup.

    Args:
        setup: None, an adapter name, a list/tuple of names (a `Stack`),
            a block, or a block's `get_config()` dict.

    Returns:
        None, a name (str) or an `AdapterSetup`.

    Raises:
        KerasAdaptersError: for anything else, or a malformed block.

    Example:

    >>> from keras_adapters.composition import parse_setup
    >>> parse_setup(["a", "b"])  # a list is a stack
    Stack('a', 'b')
    >>> parse_setup({"type": "Fuse", "children": ["a", "b"]})
    Fuse('a', 'b')
    """
    if setup is None or isinstance(setup, (str, AdapterSetup)):
        return setup
    if isinstance(setup, (list, tuple)):
        if not setup:
            return None
        return parse_setup(setup[0]) if len(setup) == 1 else Stack(*setup)
    if isinstance(setup, dict) and isinstance(setup.get("type"), str) and setup["type"] in _BLOCKS:
        return _parse_block_config(setup)
    raise KerasAdaptersError(
        f"Invalid adapter setup {setup!r}: use an adapter name, a list of names, or "
        "Stack / Average / Fuse / BatchSplit / Parallel from keras_adapters.composition."
    )
