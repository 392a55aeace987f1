"""Training adapters for text classification, and the run directories it writes.

One module per concept: `config` (`TrainConfig`), `recipe` (the optimizer,
loss and metrics the tasks compile with), `schedules`, `pipeline` (tf.data
tokenization), `trainer` (`train_text_classifier`), `callbacks`, `metrics`,
`plots`, `output_dir` (what may be written or replaced), `run_directory`
(the format and writing it), `loaded_run` (`load_run`), and the frozen-prefix
cache: `frozen_prefix` (cutting a task below its lowest trainable block),
`prefix_store` (keys, memory and disk) and `prefix_cache`
(`cache_frozen_prefix`).

Its names are imported on first use (`keras_adapters.utils.lazy_exports`), so
importing `keras_adapters.training.config` alone loads neither Keras nor
TensorFlow.
"""

from typing import TYPE_CHECKING

from keras_adapters.utils.lazy_exports import lazy_exports

if TYPE_CHECKING:  # Imported on first use.
    from keras_adapters.training.callbacks import BestAdapterCheckpoint, TrainingLog
    from keras_adapters.training.config import TrainConfig
    from keras_adapters.training.frozen_prefix import (
        FrozenPrefixSplit,
        disable_prefix_dropout,
        split_frozen_prefix,
    )
    from keras_adapters.training.loaded_run import LoadedRun, load_run
    from keras_adapters.training.metrics import classification_metrics
    from keras_adapters.training.output_dir import RunError, prepare_output_dir
    from keras_adapters.training.pipeline import tokenized
    from keras_adapters.training.prefix_cache import FrozenPrefixCache, cache_frozen_prefix
    from keras_adapters.training.run_directory import write_run_directory
    from keras_adapters.training.schedules import WarmupLinearDecay, learning_rate_schedule
    from keras_adapters.training.trainer import (
        TrainingInterrupted,
        check_model_options,
        train_text_classifier,
    )

__all__ = [
    "BestAdapterCheckpoint",
    "FrozenPrefixCache",
    "FrozenPrefixSplit",
    "LoadedRun",
    "RunError",
    "TrainConfig",
    "TrainingInterrupted",
    "TrainingLog",
    "WarmupLinearDecay",
    "cache_frozen_prefix",
    "check_model_options",
    "classification_metrics",
    "disable_prefix_dropout",
    "learning_rate_schedule",
    "load_run",
    "prepare_output_dir",
    "split_frozen_prefix",
    "tokenized",
    "train_text_classifier",
    "write_run_directory",
]

__getattr__, __dir__ = lazy_exports(__name__)
