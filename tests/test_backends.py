"""The core on JAX and PyTorch, and adapter files moving between backends.

Keras picks its backend once, at import, so each extra backend runs
`tests/backend_checks.py` (a trimmed, fast selection of the core and
composition checks) in its own pytest process with `KERAS_BACKEND` set. This
process (TensorFlow) first saves adapters for that process to load, and then
loads the adapters it trained: both directions of "adapter files are
backend-neutral", in the same runs. The run directory that process trained
with `keras-adapters train --backend ...` predicts alike here, and exports
for TF Serving.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from backend_checks import (
    CASE_LABELS,
    CLI_RUN,
    CLI_TEXTS,
    FOR_TENSORFLOW,
    FROM_TENSORFLOW,
    new_case,
    read_cross_backend_case,
    write_cross_backend_case,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Extra backend -> the module its Keras backend imports (setup.py extra of the same name).
EXTRA_BACKENDS = {"jax": "jax", "torch": "torch"}
#: Seconds one backend's checks may take (about 40 on 2 idle cores).
TIME_LIMIT = 600


@pytest.fixture(scope="module")
def from_tensorflow(tmp_path_factory):
    """Adapters trained and saved here, on TensorFlow, with their outputs."""
    target = tmp_path_factory.mktemp("from_tensorflow")
    base, model, x = new_case(seed=11)
    model.fit(x, CASE_LABELS, batch_size=2, epochs=1, verbose=0)
    write_cross_backend_case(str(target), base, model, x)
    return target


@pytest.fixture(scope="module", params=sorted(EXTRA_BACKENDS))
def backend_run(request, from_tensorflow, tmp_path_factory):
    """Runs tests/backend_checks.py on one backend: (backend, result, its saved adapters)."""
    backend = request.param
    if importlib.util.find_spec(EXTRA_BACKENDS[backend]) is None:
        pytest.fail(
            f"The {backend} backend is not installed: run `make setup` "
            f"(or `pip install -e '.[{backend}]'`)."
        )
    for_tensorflow = tmp_path_factory.mktemp(f"from_{backend}")
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        # JAX: the CPU only, without probing for accelerator plugins.
        "JAX_PLATFORMS": "cpu",
        FROM_TENSORFLOW: str(from_tensorflow),
        FOR_TENSORFLOW: str(for_tensorflow),
    }
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
        "-o", "addopts=", "-o", "python_files=backend_checks.py", "tests/backend_checks.py",
    ]
    result = subprocess.run(
        command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIME_LIMIT,
    )
    return backend, result, for_tensorflow


def test_core_and_composition_checks_pass_on_each_backend(backend_run):
    backend, result, _ = backend_run
    assert result.returncode == 0, f"KERAS_BACKEND={backend}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_adapters_trained_on_each_backend_reproduce_their_outputs_on_tensorflow(backend_run):
    backend, result, saved = backend_run
    assert (saved / "case.npz").exists(), f"KERAS_BACKEND={backend} saved nothing:\n{result.stdout[-3000:]}"
    logits, expected = read_cross_backend_case(str(saved))
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=0)


def test_runs_trained_on_each_backend_predict_alike_on_tensorflow(backend_run):
    from keras_adapters.training import load_run

    backend, result, saved = backend_run
    assert (saved / "cli_probabilities.npy").exists(), f"KERAS_BACKEND={backend}:\n{result.stdout[-3000:]}"
    _, probabilities = load_run(str(saved / CLI_RUN)).predict_texts(CLI_TEXTS)
    np.testing.assert_allclose(probabilities, np.load(saved / "cli_probabilities.npy"), atol=1e-5, rtol=0)


def test_runs_trained_on_each_backend_export_for_tf_serving(backend_run, tmp_path):
    """`keras-adapters export` (on TensorFlow) and TensorFlow's C++ loader take the run."""
    from click.testing import CliRunner

    from keras_adapters.export import check_export
    from keras_adapters_launcher import main

    backend, _, saved = backend_run
    exported = CliRunner().invoke(main, ["export", str(saved / CLI_RUN), "--base-path", str(tmp_path),
                                         "--name", backend])
    assert exported.exit_code == 0, exported.output
    assert check_export(str(tmp_path / backend / "1")).passed


def _without_keras(monkeypatch):
    """This process as the launcher sees it before Keras is imported."""
    monkeypatch.delitem(sys.modules, "keras")


def test_backend_choice_sets_keras_backend_before_keras_loads(monkeypatch):
    from keras_adapters_launcher import choose_backend

    _without_keras(monkeypatch)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert choose_backend("jax") == "jax" and os.environ["KERAS_BACKEND"] == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert choose_backend(None) == "torch"  # the exported variable is the default


def test_backend_choice_refuses_unknown_or_missing_backends(monkeypatch):
    import click

    from keras_adapters_launcher import choose_backend

    _without_keras(monkeypatch)
    monkeypatch.setenv("KERAS_BACKEND", "tf")
    with pytest.raises(click.UsageError, match="KERAS_BACKEND='tf' is not a Keras backend.*tensorflow, jax, torch"):
        choose_backend(None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(click.ClickException, match=r"jax backend is not installed: pip install 'keras-adapters\[jax\]'"):
        choose_backend("jax")
    assert os.environ["KERAS_BACKEND"] == "tf"  # left as it was


def test_export_refuses_another_backend_with_the_reason(tmp_path):
    from click.testing import CliRunner

    from keras_adapters_launcher import main

    refused = CliRunner().invoke(main, ["export", str(tmp_path), "--base-path", str(tmp_path / "serving"),
                                        "--name", "m", "--backend", "jax"])
    assert refused.exit_code == 2 and "export runs on TensorFlow only" in refused.output
    assert not (tmp_path / "serving").exists()
