"""Adapter files: saving, verifying and loading adapters (format: `adapter_files`)."""

from keras_adapters.saving.loading import load_adapters
from keras_adapters.saving.task_restore import load_task
from keras_adapters.saving.verification import read_adapter_file, read_adapter_weights
from keras_adapters.saving.writing import save_adapters

__all__ = ["load_adapters", "load_task", "read_adapter_file", "read_adapter_weights", "save_adapters"]
