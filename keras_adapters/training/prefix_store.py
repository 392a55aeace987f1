"""Where the frozen prefix's outputs are kept: their key, memory or disk, never stale.

`prefix_states` returns the outputs of a `FrozenPrefixSplit`'s prefix for a
set of examples, computing them only when no valid copy exists:

- the key (`prefix_cache_key`) is a sha256 over everything the outputs
  depend on: the base model's fingerprint (`weights_fingerprint`, frozen
  weights), the prefix's own layers (configs and weights, its layer norms
  and any frozen adapter included), the active adapter setup, the
  architecture, the block the prefix ends at, the preprocessor config, the
  sequence length and the token data itself, so a changed input never meets
  an old cache;
- a copy whose estimated size (examples x sequence x hidden x bytes) fits
  `memory_limit` is kept in this process's memory (reused by later `fit`
  calls and tuner trials; least recently used copies are dropped first);
- a larger one is written to `cache_dir/<key>/` (one `.npy` file per tensor
  and a `manifest.json`) through `atomic_directory`, so an interrupted write
  leaves nothing that a later run could read, and read back memory-mapped.
"""

import collections
import hashlib
import json
import os

import keras
import numpy as np

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.utils.atomic import atomic_directory
from keras_adapters.utils.fingerprint import weights_fingerprint

__all__ = ["PrefixStates", "clear_memory_cache", "prefix_cache_key", "prefix_states"]

FORMAT = "keras-adapters/frozen-prefix-cache"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: The cache directory's name inside a run or search directory (the CLI's
#: place for caches too large for memory; removed when training ends).
RUN_CACHE_DIR = ".frozen-prefix-cache"

#: key -> {name: array}, least recently used first.
_memory = collections.OrderedDict()
#: How many times a prefix was run over a data set (for tests and logs).
computations = 0


class PrefixStates:
    """The prefix's outputs for a set of examples.

    Attributes:
        arrays: dict name -> array `(examples, ...)` (in memory, or
            memory-mapped from disk).
        key: the cache key they were stored under.
        source: `"computed"` (this call ran the prefix), `"memory"` or
            `"disk"` (an earlier copy was reused).
        location: `"memory"` or the cache directory on disk.
        nbytes: their size in bytes.
    """

    def __init__(self, arrays, key, source, location):
        self.arrays = arrays
        self.key = key
        self.source = source
        self.location = location
        self.nbytes = sum(a.nbytes for a in arrays.values())


def _memory_bytes():
    return sum(a.nbytes for arrays in _memory.values() for a in arrays.values())


def clear_memory_cache():
    """Drops every frozen-prefix cache held in this process's memory.

    Returns:
        The number of bytes released.

    Example:

    >>> from keras_adapters.training.prefix_store import clear_memory_cache
    >>> clear_memory_cache() >= 0
    True
    """
    released = _memory_bytes()
    _memory.clear()
    return released


def _hash_arrays(digest, arrays):
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, str(array.dtype), list(array.shape)]).encode())
        digest.update(array.tobytes())


def _prefix_digest(split):
    """sha256 over what the prefix computes with: its layers' configs and weights.

    This covers what the base fingerprint (`frozen_only`) leaves out, such as
    the prefix's layer norms and any frozen adapter in it, of every kind.
    """
    digest = hashlib.sha256()
    seen = set()
    for layer in split.prefix_layers:
        for sublayer in layer._flatten_layers(include_self=True):
            try:
                config = sublayer.get_config()
            except NotImplementedError:
                config = {}
            config.pop("name", None)
            digest.update(json.dumps([type(sublayer).__name__, config], sort_keys=True,
                                     default=str).encode())
            for weight in sublayer.weights:
                if id(weight) not in seen:
                    seen.add(id(weight))
                    digest.update(weight.path.encode())
                    value = keras.ops.convert_to_numpy(weight)
                    digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def prefix_cache_key(split, features, preprocessor=None, base_fingerprint=None):
    """The key of a prefix's outputs on `features`: a sha256 hex digest.

    Args:
        split: a `FrozenPrefixSplit`.
        features: dict of the task's input arrays for every example.
        preprocessor: the KerasHub preprocessor that made `features`, if any
            (its config, with the tokenizer's, is part of the key).
        base_fingerprint: `weights_fingerprint(backbone, frozen_only=True)`
            when already computed; None: computed here.

    Returns:
        A 64-character hex string.

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.training import disable_prefix_dropout, split_frozen_prefix
    >>> from keras_adapters.training.prefix_store import prefix_cache_key
    >>> model = PooledTextClassifier(add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8), "pfeiffer", layers="top:1"), 2)
    >>> _ = disable_prefix_dropout(model)
    >>> split = split_frozen_prefix(model)
    >>> x = {"token_ids": np.ones((4, 8), "int32"), "segment_ids": np.zeros((4, 8), "int32"),
    ...      "padding_mask": np.ones((4, 8), "int32")}
    >>> key = prefix_cache_key(split, x)
    >>> key == prefix_cache_key(split, dict(x, token_ids=np.full((4, 8), 2, "int32")))
    False
    """
    backbone = split.backbone
    if base_fingerprint is None:
        base_fingerprint = weights_fingerprint(backbone, frozen_only=True)
    config = backbone.get_config()
    active = config.get("active_adapters")
    # Adapter state is hashed below as far as the prefix uses it: a trial's
    # adapter in the blocks above does not change the prefix's output.
    for key in ("name", "trainable", "adapters", "active_adapters", "trainable_adapters",
                "fusions", "trainable_fusions"):
        config.pop(key, None)
    record = {
        "format": [FORMAT, FORMAT_VERSION],
        "backbone": [type(backbone).__name__, config],
        "base_fingerprint": base_fingerprint,
        "prefix": _prefix_digest(split),
        "active_adapters": active,
        "block": split.block,
        "outputs": {
            name: [list(shape), str(dtype)] for name, (shape, dtype) in split.cached_specs.items()
        },
        "preprocessor": None if preprocessor is None else preprocessor.get_config(),
        "input_shapes": [list(np.shape(a))[1:] for a in split.prefix_features(features).values()],
    }
    data = hashlib.sha256()
    _hash_arrays(data, split.prefix_features(features))
    record["data"] = data.hexdigest()
    encoded = json.dumps(record, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def _estimated_bytes(split, examples, sequence_length):
    total = 0
    for shape, dtype in split.cached_specs.values():
        size = np.dtype(keras.backend.standardize_dtype(dtype)).itemsize
        for dim in shape:
            size *= sequence_length if dim is None else dim
        total += examples * size
    return total


def default_memory_limit():
    """Half of the memory available now (1 GiB where that cannot be read)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def _read_disk(path, key, examples):
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("key") != key or manifest.get("examples") != examples:
            return None
        arrays = {name: np.load(os.path.join(path, f"{name}.npy"), mmap_mode="r")
                  for name in manifest["arrays"]}
    except (OSError, ValueError, KeyError):
        return None  # not there, or not ours: computed again
    if any(len(a) != examples for a in arrays.values()):
        return None
    return arrays


def _run_prefix(split, features, batch_size, allocate):
    """Runs the prefix over every example, into arrays from `allocate(name, shape, dtype)`."""
    global computations
    computations += 1
    examples = len(next(iter(features.values())))
    arrays = None
    for start in range(0, examples, batch_size):
        batch = {n: a[start:start + batch_size] for n, a in split.prefix_features(features).items()}
        outputs = split.prefix.predict_on_batch(batch)
        if arrays is None:
            arrays = {
                n: allocate(n, (examples,) + v.shape[1:], v.dtype) for n, v in outputs.items()
            }
        for name, value in outputs.items():
            arrays[name][start:start + len(value)] = value
    return arrays


def prefix_states(split, features, key, batch_size=32, cache_dir=None, memory_limit=None):
    """The prefix's outputs on `features`: reused when a valid copy exists, else computed.

    Args:
        split: a `FrozenPrefixSplit`.
        features: dict of the task's input arrays for every example.
        key: `prefix_cache_key(split, features, ...)`.
        batch_size: examples per prefix call when computing.
        cache_dir: directory for caches too large for memory (and where
            earlier ones are looked up); None: memory only.
        memory_limit: bytes a cache may take in memory; None: half of the
            memory available now.

    Returns:
        A `PrefixStates`.

    Raises:
        KerasAdaptersError: when the outputs do not fit `memory_limit` and
            no `cache_dir` is given.

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.training import disable_prefix_dropout, split_frozen_prefix
    >>> from keras_adapters.training.prefix_store import prefix_cache_key, prefix_states
    >>> model = PooledTextClassifier(add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8), "pfeiffer", layers="top:1"), 2)
    >>> _ = disable_prefix_dropout(model)
    >>> split = split_frozen_prefix(model)
    >>> x = {"token_ids": np.ones((4, 8), "int32"), "segment_ids": np.zeros((4, 8), "int32"),
    ...      "padding_mask": np.ones((4, 8), "int32")}
    >>> key = prefix_cache_key(split, x)
    >>> first, again = prefix_states(split, x, key), prefix_states(split, x, key)
    >>> first.source, again.source, first.arrays["frozen_prefix_0"].shape
    ('computed', 'memory', (4, 8, 8))
    """
    examples = len(next(iter(features.values())))
    sequence_length = max(np.shape(a)[1] for a in features.values() if np.ndim(a) > 1)
    if key in _memory:
        _memory.move_to_end(key)
        return PrefixStates(_memory[key], key, "memory", "memory")
    path = None if cache_dir is None else os.path.join(os.fspath(cache_dir), key)
    if path is not None:
        arrays = _read_disk(path, key, examples)
        if arrays is not None:
            return PrefixStates(arrays, key, "disk", path)
    limit = default_memory_limit() if memory_limit is None else memory_limit
    needed = _estimated_bytes(split, examples, sequence_length)
    if needed <= limit:
        arrays = _run_prefix(split, features, batch_size, lambda n, s, d: np.empty(s, d))
        # Least recently used copies make room.
        while _memory and _memory_bytes() + needed > limit:
            _memory.popitem(last=False)
        _memory[key] = arrays
        return PrefixStates(arrays, key, "computed", "memory")
    if path is None:
        raise KerasAdaptersError(
            f"The frozen-prefix cache needs about {needed / 1e9:.2f} GB, more than its memory "
            f"limit ({limit / 1e9:.2f} GB): give it a cache directory on disk (cache_dir=...) "
            "or a larger memory_limit."
        )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Written next to its final name and switched in complete: a killed run
    # leaves no directory that `_read_disk` would accept.
    with atomic_directory(path, overwrite=True) as staging:
        arrays = _run_prefix(
            split, features, batch_size,
            lambda n, s, d: np.lib.format.open_memmap(
                os.path.join(staging, f"{n}.npy"), "w+", d, s
            ),
        )
        for array in arrays.values():
            array.flush()
        names = sorted(arrays)
        del arrays  # close the memory maps before the switch
        with open(os.path.join(staging, MANIFEST), "w", encoding="utf-8") as f:
            json.dump({"format": FORMAT, "format_version": FORMAT_VERSION, "key": key,
                       "examples": examples, "arrays": names}, f)
    return PrefixStates(_read_disk(path, key, examples), key, "computed", path)
