"""Shared pytest setup: backend, quiet logs, doctest namespace."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import keras_adapters

    for name in keras_adapters.__all__ if hasattr(keras_adapters, "__all__") else dir(keras_adapters):
        if not name.startswith("_"):
            doctest_namespace[name] = getattr(keras_adapters, name)
