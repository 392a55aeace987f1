"""The benchmark's inputs: the data set, tokenized once, and fixed batches for timing."""

import functools

import keras
import numpy as np

from keras_adapters.data import load_dataset
from keras_adapters.pretrained import load_preprocessor
from keras_adapters.training import tokenized


@functools.lru_cache(maxsize=1)
def load_data(settings):
    """The labelled data and tokenizer every arm uses (read once per process)."""
    data = load_dataset(settings.dataset, seed=settings.seed, max_examples=settings.train_examples)
    preprocessor = load_preprocessor("minilm_l6", settings.sequence_length)
    test = data.test
    if settings.test_examples:
        test = test.take(settings.test_examples)
    return data, preprocessor, test


def pretokenized(dataset, preprocessor):
    """`(text, label)` examples tokenized once and held in memory, unbatched.

    Every arm batches (and, but the cached arm, shuffles) these, so no arm's
    training time includes tokenizing, and the arms see the same tensors.

    Args:
        dataset: a `tf.data.Dataset` of unbatched `(text, label)` pairs.
        preprocessor: the KerasHub preprocessor of the benchmark.

    Returns:
        A cached `tf.data.Dataset` of unbatched `(features dict, label)`.
    """
    examples = tokenized(dataset, preprocessor, 256).unbatch().cache()
    for _ in examples:  # fill the cache now, outside every timed run
        pass
    return examples


def training_batches(examples, batch_size, shuffle_seed=None):
    """Batches of `pretokenized` examples, as `keras_adapters.training.tokenized` makes them.

    Args:
        examples: what `pretokenized` returns.
        batch_size: examples per batch.
        shuffle_seed: reshuffle each epoch with this seed; None: keep the order.

    Returns:
        A prefetched `tf.data.Dataset` of `(features dict, labels)` batches.
    """
    import tensorflow as tf  # tf.data is the input pipeline, as in keras_adapters.training.tokenized

    if shuffle_seed is not None:
        examples = examples.shuffle(16384, seed=shuffle_seed, reshuffle_each_iteration=True)
    return examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fixed_batch(dataset, preprocessor, batch_size):
    features, labels = next(iter(tokenized(dataset, preprocessor, batch_size)))
    features = {k: keras.ops.convert_to_numpy(v) for k, v in features.items()}
    return features, np.asarray(labels)
