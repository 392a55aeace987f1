"""Shared pytest setup: backend, quiet logs, self-contained doctests."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_doctest_globals(request):
    """Runs each docstring example as if pasted into a fresh Python.

    pytest runs a doctest in a copy of its module's globals, so an example
    could use a name its module defines or imports without importing it and
    still pass here, while a reader who pastes it gets a NameError. Emptying
    the globals makes every example carry its own imports.
    """
    doctest = getattr(request.node, "dtest", None)
    if doctest is not None:
        doctest.globs.clear()
        doctest.globs["__name__"] = "__main__"
