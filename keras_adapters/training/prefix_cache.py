"""`cache_frozen_prefix`: train a task on its frozen prefix's outputs, computed once, through `fit`.

When adapters sit in the upper blocks only (`AdapterConfig(layers="top:K")`)
and nothing below them trains, each training step runs the embeddings and the
lower blocks for nothing new: their output depends on the input alone once
their dropout is off (`disable_prefix_dropout`). `cache_frozen_prefix(model)`
returns a `FrozenPrefixCache`, a Keras model whose `fit` takes the data the
task takes, runs the frozen prefix over it once (or reuses an earlier run
with the same key: `prefix_store`), and then trains the upper blocks and the
head (`FrozenPrefixSplit.suffix`, the task's own layers) on the cached
states, reshuffled each epoch. The task model is the one trained: predict,
evaluate, save and export it as usual; it still holds the whole network.
"""

import keras
import numpy as np

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training.frozen_prefix import split_frozen_prefix
from keras_adapters.training.prefix_store import prefix_cache_key, prefix_states

__all__ = ["FrozenPrefixCache", "cache_frozen_prefix"]


class _Parts:
    """Holds what the wrapper must not track as its own layers (they are the task's)."""

    def __init__(self, split):
        self.split = split


def _copy(value):
    """A fresh copy of a compile argument (metrics hold state)."""
    if value is None or isinstance(value, str):
        return value
    return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(value))


def _is_dataset(x):
    """A `tf.data` dataset or another iterable of batches (not arrays)."""
    if hasattr(x, "element_spec"):
        return True
    arrays = isinstance(x, (dict, list, tuple)) or hasattr(x, "shape")
    return hasattr(x, "__iter__") and not arrays


class FrozenPrefixCache(keras.Model):
    """A task model that trains from its frozen prefix's cached outputs.

    Build it with `cache_frozen_prefix`. It shares every layer and weight with
    `task` and is compiled with the task's optimizer (the same object), loss
    and metrics. Its `fit` takes what the task's `fit` takes (a finite `tf.data`
    dataset of `(features, labels[, sample_weights])` batches, or arrays with
    `batch_size`; raw strings when the task has a preprocessor), plus
    `validation_data`, callbacks and every other `keras.Model.fit` argument
    except `validation_split`. Each call:

    1. reads the data once (tokenizing it if the task has a preprocessor);
    2. takes the prefix's outputs from the cache under their key, or computes
       them (in memory when they fit `memory_limit`, else in `cache_dir`);
       the validation data likewise;
    3. trains the part above the prefix on them, with the examples
       reshuffled each epoch as `dataset.shuffle(len, seed)` would (pass the
       data unshuffled: its order is part of the key) unless
       `shuffle=False`. Validation runs the same part in inference mode.

    `save`, `save_weights`, `load_weights` and `export` act on `task`, so
    checkpoint callbacks save the task. `last_cache` is the training data's
    `PrefixStates` (its `source` says `"computed"`, `"memory"` or `"disk"`).

    Args:
        model: the compiled task model (its prefix dropout off, see
            `disable_prefix_dropout`).
        cache_dir: directory for caches larger than `memory_limit`, and
            where earlier ones are found; None: memory only.
        memory_limit: bytes a cache may take in memory; None: half of the
            memory available at the time.
        seed: the shuffling seed; None: from Keras' global seed.
        base_fingerprint: `weights_fingerprint(backbone, frozen_only=True)`
            when already known; None: computed at each `fit`.
        name: the wrapper's name.

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.training import FrozenPrefixCache, disable_prefix_dropout
    >>> model = PooledTextClassifier(add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8), "pfeiffer", layers="top:1"), 2)
    >>> _ = disable_prefix_dropout(model)
    >>> fast = FrozenPrefixCache(model, seed=0)
    >>> x = {"token_ids": np.ones((8, 8), "int32"), "segment_ids": np.zeros((8, 8), "int32"),
    ...      "padding_mask": np.ones((8, 8), "int32")}
    >>> history = fast.fit(x, np.arange(8) % 2, batch_size=4, epochs=2, verbose=0)
    >>> len(history.history["loss"]), fast.last_cache.source
    (2, 'computed')
    """

    def __init__(self, model, cache_dir=None, memory_limit=None, seed=None, base_fingerprint=None,
                 name=None):
        if not getattr(model, "compiled", False) or model.optimizer is None:
            raise KerasAdaptersError(
                f"Compile {model.name!r} before caching its frozen prefix: the cache trains it "
                "with its own optimizer, loss and metrics."
            )
        split = split_frozen_prefix(model)
        super().__init__(name=name or f"{model.name}_prefix_cache")
        self.task = model
        self._parts = _Parts(split)
        self.cache_dir = cache_dir
        self.memory_limit = memory_limit
        self.seed = seed
        self.base_fingerprint = base_fingerprint
        self.last_cache = None
        self.built = True
        config = model._compile_config.config
        self.compile(
            optimizer=model.optimizer,
            loss=_copy(config.get("loss")),
            loss_weights=config.get("loss_weights"),
            metrics=_copy(config.get("metrics")),
            weighted_metrics=_copy(config.get("weighted_metrics")),
            run_eagerly=model.run_eagerly,
            jit_compile=model.jit_compile,
            steps_per_execution=model.steps_per_execution,
        )

    @property
    def split(self):
        """The `FrozenPrefixSplit` this wrapper trains through."""
        return self._parts.split

    def call(self, inputs, training=None):
        split = self._parts.split
        if isinstance(inputs, dict) and split.cached_names[0] in inputs:
            return split.suffix(inputs, training=training)
        return self.task(inputs, training=training)

    def _read(self, x, y, sample_weight, batch_size):
        """All examples as arrays: (features dict, y, sample_weight, batch size)."""
        if _is_dataset(x):
            if y is not None or sample_weight is not None:
                raise KerasAdaptersError(
                    "Pass labels inside the dataset, not as `y`/`sample_weight`."
                )
            batches = (keras.utils.unpack_x_y_sample_weight(element) for element in x)
        else:
            size = len(keras.tree.flatten(x)[0])
            step = batch_size or 32
            batches = (
                keras.tree.map_structure(
                    lambda a, rows=slice(start, start + step): None if a is None else a[rows],
                    (x, y, sample_weight),
                )
                for start in range(0, size, step)
            )
        preprocess = getattr(self.task, "preprocess_samples", None)
        split = self._parts.split
        needed = set(split.prefix_inputs.values()) | set(split.feature_names)
        parts = []
        for batch in batches:
            if getattr(self.task, "preprocessor", None) is not None:
                batch = keras.utils.unpack_x_y_sample_weight(preprocess(*batch))
            features = batch[0]
            if not isinstance(features, dict) or not needed <= set(features):
                given = sorted(features) if isinstance(features, dict) else type(features).__name__
                raise KerasAdaptersError(
                    f"{self.task.name!r} takes a dict of inputs with keys {sorted(needed)}; "
                    f"the data gave {given}."
                )
            batch_size = batch_size or len(keras.tree.flatten(features)[0])
            parts.append(keras.tree.map_structure(
                lambda a: None if a is None else np.asarray(a),
                ({n: features[n] for n in needed},) + tuple(batch[1:]),
            ))
        if not parts:
            raise KerasAdaptersError("The data given to fit holds no examples.")
        features, y, sample_weight = (
            keras.tree.map_structure(lambda *a: np.concatenate(a), *[p[i] for p in parts])
            if parts[0][i] is not None else None
            for i in range(3)
        )
        return features, y, sample_weight, batch_size

    def _cached_dataset(self, x, y, sample_weight, batch_size, shuffle):
        import tensorflow as tf  # tf.data feeds Keras; the model code stays backend-agnostic.

        split = self._parts.split
        features, y, sample_weight, batch_size = self._read(x, y, sample_weight, batch_size)
        preprocessor = getattr(self.task, "preprocessor", None)
        key = prefix_cache_key(split, features, preprocessor, self.base_fingerprint)
        states = prefix_states(split, features, key, batch_size, self.cache_dir, self.memory_limit)
        columns = {**states.arrays, **{f: features[f] for f in split.feature_names}}
        names = sorted(columns)
        labels = tuple(v for v in (y, sample_weight) if v is not None)
        parts = [columns[n] for n in names] + keras.tree.flatten(labels)
        examples = len(parts[0])

        def take(indices):
            return [part[indices] for part in parts]

        def gather(indices):
            values = tf.numpy_function(take, [indices], [tf.as_dtype(p.dtype) for p in parts])
            for value, part in zip(values, parts):
                value.set_shape((None,) + part.shape[1:])
            batch_labels = keras.tree.pack_sequence_as(labels, values[len(names):])
            return keras.utils.pack_x_y_sample_weight(dict(zip(names, values)), *batch_labels)

        order = tf.data.Dataset.range(examples)
        if shuffle:
            order = order.shuffle(examples, seed=self.seed, reshuffle_each_iteration=True)
        dataset = order.batch(batch_size).map(gather).prefetch(tf.data.AUTOTUNE)
        return dataset, states, batch_size

    def fit(self, x=None, y=None, batch_size=None, sample_weight=None, validation_data=None,
            shuffle=True, **kwargs):
        """Trains the task on the cached prefix outputs (see the class docstring).

        Args:
            x, y, batch_size, sample_weight, validation_data, shuffle: as
                in `keras.Model.fit` (`batch_size` defaults to the data's
                batches, or 32 for arrays).
            **kwargs: more `keras.Model.fit` arguments (`epochs`,
                `callbacks`, `initial_epoch`, ...).

        Returns:
            The `History` object.

        Raises:
            KerasAdaptersError: for `validation_split`, or data that is not
                the task's dict of inputs.
        """
        if kwargs.pop("validation_split", None):
            raise KerasAdaptersError(
                "FrozenPrefixCache.fit takes `validation_data`, not `validation_split`."
            )
        train, self.last_cache, batch_size = self._cached_dataset(
            x, y, sample_weight, batch_size, shuffle
        )
        if validation_data is not None:
            if _is_dataset(validation_data):
                validation_data = (validation_data,)
            validation_data, _, _ = self._cached_dataset(
                *keras.utils.unpack_x_y_sample_weight(validation_data),
                kwargs.pop("validation_batch_size", None) or batch_size,
                shuffle=False,
            )
        # Shuffled above, example by example; Keras warns about `shuffle` on datasets.
        return super().fit(train, validation_data=validation_data, shuffle=False, **kwargs)

    # The task is the model: what is saved or exported is the whole network.
    def save(self, *args, **kwargs):
        return self.task.save(*args, **kwargs)

    def save_weights(self, *args, **kwargs):
        return self.task.save_weights(*args, **kwargs)

    def load_weights(self, *args, **kwargs):
        return self.task.load_weights(*args, **kwargs)

    def export(self, *args, **kwargs):
        return self.task.export(*args, **kwargs)

    def get_weights(self):
        return self.task.get_weights()

    def set_weights(self, weights):
        return self.task.set_weights(weights)


def cache_frozen_prefix(model, cache_dir=None, memory_limit=None, seed=None,
                        base_fingerprint=None):
    """Wraps a task model so that `fit` trains it on its frozen prefix's cached outputs.

    The frozen prefix (embeddings and the blocks below the lowest block
    holding trainable weights) must run without dropout: call
    `disable_prefix_dropout(model)` first (an explicit choice; it is not
    done for you). Then every epoch, and every later `fit` with the same
    data and prefix, skips the prefix.

    Args:
        model: the compiled task model (a `PooledTextClassifier`, a KerasHub
            task such as `BertTextClassifier`, ...).
        cache_dir: directory for caches too large for memory; None: memory
            only.
        memory_limit: bytes a cache may take in memory; None: half of the
            memory available at the time.
        seed: the shuffling seed; None: from Keras' global seed.
        base_fingerprint: the backbone's `weights_fingerprint(...,
            frozen_only=True)` when already known.

    Returns:
        A `FrozenPrefixCache`: call its `fit` as you would the model's.

    Raises:
        KerasAdaptersError: when there is nothing to cache (block 0 or the
            embeddings train: use `layers="top:K"`), the prefix still has
            dropout, the model is not compiled, or the model cannot be cut
            (see `split_frozen_prefix`).

    Example:

    >>> import keras_hub, numpy as np
    >>> from keras_adapters import add_adapters
    >>> from keras_adapters.tasks import PooledTextClassifier
    >>> from keras_adapters.training import cache_frozen_prefix, disable_prefix_dropout
    >>> model = PooledTextClassifier(add_adapters(keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8), "pfeiffer", layers="top:1"), 2)
    >>> cache_frozen_prefix(model)
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: The frozen prefix (embeddings and blocks below 1) still has dropout (rates [0.1]), so its output is not a function of the input: call keras_adapters.training.disable_prefix_dropout(model) first.
    >>> _ = disable_prefix_dropout(model)
    >>> fast = cache_frozen_prefix(model, seed=0)
    >>> fast.split.block
    1
    """
    return FrozenPrefixCache(model, cache_dir=cache_dir, memory_limit=memory_limit, seed=seed,
                             base_fingerprint=base_fingerprint)
