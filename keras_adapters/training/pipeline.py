"""The tf.data input pipeline: batching, tokenizing, collecting predictions."""


import keras
import numpy as np

__all__ = ["tokenized"]



def tokenized(dataset, preprocessor, batch_size, shuffle_seed=None):
    """Batches a `(text, label)` dataset and tokenizes it with `preprocessor`.

    Args:
        dataset: a `tf.data.Dataset` of unbatched `(text, label)` pairs.
        preprocessor: a KerasHub preprocessor taking a batch of strings.
        batch_size: examples per batch.
        shuffle_seed: shuffle (reshuffled each epoch) with this seed; None:
            keep the order.

    Returns:
        A prefetched `tf.data.Dataset` of `(features dict, labels)` batches.

    Example:

    >>> import tensorflow as tf
    >>> from keras_adapters.pretrained import load_preprocessor
    >>> from keras_adapters.training import tokenized
    >>> data = tf.data.Dataset.from_tensor_slices((["a fine film", "a dull one", "ok"], [1, 0, 1]))
    >>> features, labels = next(iter(tokenized(data, load_preprocessor("minilm_l6", 8), 2)))
    >>> sorted(features), tuple(features["token_ids"].shape), labels.numpy().tolist()
    (['padding_mask', 'segment_ids', 'token_ids'], (2, 8), [1, 0])
    """
    import tensorflow as tf  # tf.data is the input pipeline; the model is backend-agnostic.

    if shuffle_seed is not None:
        dataset = dataset.shuffle(16384, seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(
        lambda text, label: (preprocessor(text), label), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def labels_and_logits(model, dataset):
    """The labels and the model's logits for every example of a batched dataset.

    Every batch is predicted at the first batch's size: a shorter last batch
    is padded by repeating its last row and the padding's logits dropped, so
    a jit-compiled (XLA) predict function compiles once, not once more for
    the remainder's shape. Rows do not interact in inference, so the logits
    are those of the unpadded batch.

    Args:
        model: a Keras model taking the dataset's features.
        dataset: a `tf.data.Dataset` of `(features, labels)` batches, as
            `tokenized` makes.

    Returns:
        `(labels, logits)` NumPy arrays, one row per example.
    """
    labels, logits = [], []
    batch_size = None
    for features, batch_labels in dataset:
        rows = len(batch_labels)
        batch_size = batch_size or rows
        if rows < batch_size:
            features = keras.tree.map_structure(lambda x: _pad_rows(np.asarray(x), batch_size), features)
        logits.append(np.asarray(model.predict_on_batch(features))[:rows])
        labels.append(np.asarray(batch_labels))
    return np.concatenate(labels), np.concatenate(logits)


def _pad_rows(array, rows):
    """`array` with its last row repeated up to `rows` rows."""
    padding = [(0, rows - len(array))] + [(0, 0)] * (array.ndim - 1)
    return np.pad(array, padding, mode="edge")
