"""`check_export`: load and run an export with TensorFlow's C++ loader.

This is what can be verified without a TF Serving binary: a fresh
subprocess that imports no tensorflow Python package (nor keras, keras_hub
or tensorflow_text) loads the export through the C API's
`TF_LoadSessionFromSavedModel` (the C++ `LoadSavedModel` that TF Serving's
SavedModelBundle calls), runs every signature recorded at export time
(`serving_default`, one per task of a multi-task export, the routed
`serving_multitask` on rows of every task) with `TF_SessionRun` on the
sample inputs recorded with it, and compares with the outputs Keras gave:
every output, with the same shape, within `TOLERANCE`. It also audits
every op of the graph and its function library against the op registry of
that process, listing ops a stock server may lack (for instance
tensorflow-text ops of an in-graph tokenizer).

It is not TF Serving itself: its request parsing, batching and model
version policy are not exercised.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from keras_adapters.export.routing import ROUTED_SIGNATURE
from keras_adapters.export.version_directory import (
    METADATA_DIR,
    SAMPLE_INPUTS,
    SAMPLE_OUTPUTS,
    read_export_metadata,
)

CPP_CHECK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpp_check.py")
# Largest absolute difference accepted between the C++ loader's outputs and
# Keras': the two run the same float32 graph, so they differ by rounding only
# (about 1e-7 here).
TOLERANCE = 1e-5


@dataclasses.dataclass
class ExportCheck:
    """Result of `check_export`.

    Attributes:
        path: the export version directory.
        loaded: the C++ loader loaded it.
        ran: `serving_default` ran on the sample inputs.
        max_abs_diff: largest absolute difference to the Keras outputs over
            the outputs of matching shape (None if not run or none match).
        unregistered_ops: ops absent from a bare TensorFlow's op registry.
        problems: human-readable reasons the check failed (empty: passed).
        report: the raw report of the subprocess.
        routed_tasks: for an export with the routed `serving_multitask`
            signature, its tasks in id order: dicts with `task_id`, `task`
            and `num_classes` (None for other exports).
    """

    path: str
    loaded: bool
    ran: bool
    max_abs_diff: float | None
    unregistered_ops: list
    problems: list
    report: dict
    routed_tasks: list | None = None

    @property
    def passed(self):
        return not self.problems


def check_export(path, signatures=None, timeout=300):
    """Loads and runs an export in a TensorFlow-C++-only subprocess.

    Args:
        path: an export version directory (`BASE/NAME/VERSION`).
        signatures: the signatures to run on the recorded sample inputs
            (default: every signature recorded at export, e.g. one per task).
        timeout: seconds before the subprocess is stopped.

    Returns:
        An `ExportCheck`; `.passed` is True when the export loaded, ran,
        gave every recorded output with Keras' shape and within `TOLERANCE`
        (1e-5, absolute) of Keras' values, and uses only registered ops.

    Raises:
        ValueError: if `path` is not an export written by keras-adapters.

    Example:

    A passing check is in `export_saved_model`'s example; a folder that is
    not an export is refused before any subprocess starts:

    >>> import tempfile
    >>> from keras_adapters.export import check_export
    >>> check_export(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: ...
    """
    path = os.fspath(path)
    metadata = read_export_metadata(path)  # raises for a foreign directory
    signatures = signatures or metadata.get("checked_signatures", ["serving_default"])
    extra = os.path.join(path, METADATA_DIR)
    report, outputs = _run_cpp_loader(path, os.path.join(extra, SAMPLE_INPUTS), signatures, timeout)
    problems = []
    if report.get("error"):
        problems.append(f"C++ loader: {report['error']}")
    imported = [name for name, present in report.get("python_modules", {}).items() if present]
    if imported:
        problems.append(f"the checking process imported {imported}: the check is not isolated")
    unregistered = report.get("unregistered_ops", [])
    if unregistered:
        problems.append(
            "ops not in TensorFlow's core op registry (a stock TF Serving may lack them): "
            + ", ".join(unregistered)
        )
    max_abs_diff = None
    if outputs is not None:
        with np.load(os.path.join(extra, SAMPLE_OUTPUTS)) as data:
            expected = {key: data[key] for key in data.files if key.split(".")[0] in signatures}
        max_abs_diff, mismatches = compare_outputs(outputs, expected)
        problems += mismatches
    elif not problems:
        problems.append("the signature produced no outputs")
    return ExportCheck(
        path=path,
        loaded=bool(report.get("loaded")),
        ran=outputs is not None,
        max_abs_diff=max_abs_diff,
        unregistered_ops=unregistered,
        problems=problems,
        report=report,
        routed_tasks=_routed_tasks(metadata),
    )


def _routed_tasks(metadata):
    """The routed signature's tasks recorded in export metadata, or None."""
    extra = metadata.get("metadata")
    routing = extra.get(ROUTED_SIGNATURE) if isinstance(extra, dict) else None
    return routing.get("tasks") if isinstance(routing, dict) else None


def compare_outputs(outputs, expected, tolerance=TOLERANCE):
    """Compares the C++ loader's outputs with the ones Keras gave.

    Args:
        outputs: dict name -> array computed by the C++ loader.
        expected: dict name -> array Keras computed for the same inputs.
        tolerance: largest absolute difference accepted per element.

    Returns:
        `(max_abs_diff, problems)`: the largest absolute difference over the
        outputs whose shapes agree (None if none do), and one sentence per
        output that is missing, extra, of another shape, or off by more than
        `tolerance` (NaN counts as off).

    Example:

    >>> import numpy as np
    >>> from keras_adapters.export.check import compare_outputs
    >>> compare_outputs({"p": np.array([0.5, 0.5])}, {"p": np.array([0.5, 0.25])})
    (0.25, ['p differs from Keras by 0.25 (more than 1e-05)'])
    >>> compare_outputs({"p": np.zeros((2, 3))}, {"p": np.zeros((1, 2, 3))})[1]
    ['p has shape (2, 3); Keras gave (1, 2, 3)']
    """
    problems = []
    if not expected:
        problems.append("no Keras outputs were recorded to compare with")
    for key in sorted(set(expected) - set(outputs)):
        problems.append(f"{key} is missing from the C++ loader's outputs")
    for key in sorted(set(outputs) - set(expected)):
        problems.append(f"{key} is an output Keras did not give")
    differences = []
    for key in sorted(set(expected) & set(outputs)):
        got, want = np.asarray(outputs[key]), np.asarray(expected[key])
        # Without this, numpy broadcasting would compare (2, 3) with (1, 2, 3).
        if got.shape != want.shape:
            problems.append(f"{key} has shape {got.shape}; Keras gave {want.shape}")
            continue
        # NaN on either side propagates through max(), and fails below.
        difference = float(np.abs(got.astype("float64") - want.astype("float64")).max(initial=0.0))
        differences.append(difference)
        if not difference <= tolerance:
            problems.append(f"{key} differs from Keras by {difference:.3g} (more than {tolerance:g})")
    max_abs_diff = None
    if differences:
        max_abs_diff = float("nan") if any(np.isnan(differences)) else max(differences)
    return max_abs_diff, problems


def run_with_cpp_loader(path, inputs, signature="serving_default", timeout=300):
    """Runs one signature of a SavedModel with TensorFlow's C++ loader.

    The same fresh, TensorFlow-Python-free subprocess as `check_export`, on
    inputs of your choice: what a bare TF Serving process would compute for
    them.

    Args:
        path: a SavedModel directory (e.g. `BASE/NAME/VERSION`).
        inputs: dict input name -> array (int32 token arrays for exports of
            keras-adapters).
        signature: the signature to run.
        timeout: seconds before the subprocess is stopped.

    Returns:
        Dict output name -> numpy array.

    Raises:
        KerasAdaptersError: if the C++ loader cannot load the SavedModel or
            run the signature on these inputs (the message says why).

    Example (outputs for an export are in `examples/export_and_request.py`;
    a folder without a SavedModel is reported, not crashed on):

    >>> import tempfile
    >>> from keras_adapters.export import run_with_cpp_loader
    >>> run_with_cpp_loader(tempfile.mkdtemp(), {"token_ids": [[1, 2]]})
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: TensorFlow's C++ loader could not run 'serving_default' of ...
    """
    from keras_adapters.errors import KerasAdaptersError

    with tempfile.TemporaryDirectory() as scratch:
        inputs_file = os.path.join(scratch, "inputs.npz")
        np.savez(inputs_file, **{key: np.asarray(value) for key, value in inputs.items()})
        report, outputs = _run_cpp_loader(os.fspath(path), inputs_file, [signature], timeout, repeats=0)
    if outputs is None:
        raise KerasAdaptersError(
            f"TensorFlow's C++ loader could not run {signature!r} of {path}: "
            f"{report.get('error', 'no outputs')}"
        )
    prefix = f"{signature}."
    return {key[len(prefix):]: value for key, value in outputs.items()}


def _run_cpp_loader(path, inputs_file, signatures, timeout, repeats=5):
    """Runs `cpp_check.py` in a fresh process: (its report, outputs or None)."""
    with tempfile.TemporaryDirectory() as scratch:
        outputs_file = os.path.join(scratch, "outputs.npz")
        command = [
            sys.executable, "-I", CPP_CHECK_SCRIPT, path,
            "--inputs", inputs_file, "--outputs", outputs_file, "--repeats", str(repeats),
        ]
        for signature in signatures:
            command += ["--signature", signature]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=environment
        )
        report = _parse_report(completed)
        outputs = None
        if os.path.exists(outputs_file):
            with np.load(outputs_file) as data:
                outputs = {key: data[key] for key in data.files}
    return report, outputs


def _parse_report(completed):
    for line in reversed(completed.stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    tail = (completed.stderr or "").strip().splitlines()[-5:]
    return {"loaded": False, "error": f"exit code {completed.returncode}: " + " | ".join(tail)}
