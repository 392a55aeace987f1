"""The examples run as documented (on tiny sizes, with --smoke)."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script", ["multitask.py"])
def test_example_smoke(script):
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--smoke"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    if script == "multitask.py":
        assert "sentiment: test accuracy" in completed.stdout
        assert "topic: test accuracy" in completed.stdout
        assert "C++ loader check PASSED" in completed.stdout
