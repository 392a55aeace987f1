"""Shared fixtures of the test suite (factories and checks live in `tests/helpers.py`)."""

import keras
import pytest


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
