"""Training adapters for text classification, and the run directories it writes.

One module per concept: `config` (`TrainConfig`), `recipe` (the optimizer,
loss and metrics the tasks compile with), `schedules`, `pipeline` (tf.data
tokenization), `trainer` (`train_text_classifier`), `callbacks`, `metrics`,
`plots`, `output_dir` (what may be written or replaced), `run_directory`
(the format and writing it) and `loaded_run` (`load_run`).
"""

from keras_adapters.training.callbacks import BestAdapterCheckpoint, TrainingLog
from keras_adapters.training.config import TrainConfig
from keras_adapters.training.loaded_run import LoadedRun, load_run
from keras_adapters.training.metrics import classification_metrics
from keras_adapters.training.output_dir import RunError, prepare_output_dir
from keras_adapters.training.pipeline import tokenized
from keras_adapters.training.run_directory import write_run_directory
from keras_adapters.training.schedules import WarmupLinearDecay, learning_rate_schedule
from keras_adapters.training.trainer import (
    TrainingInterrupted,
    check_model_options,
    train_text_classifier,
)

__all__ = [
    "BestAdapterCheckpoint",
    "LoadedRun",
    "RunError",
    "TrainConfig",
    "TrainingInterrupted",
    "TrainingLog",
    "WarmupLinearDecay",
    "check_model_options",
    "classification_metrics",
    "learning_rate_schedule",
    "load_run",
    "prepare_output_dir",
    "tokenized",
    "train_text_classifier",
    "write_run_directory",
]
