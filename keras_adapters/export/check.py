"""`check_export`: load and run an export with TensorFlow's C++ loader.

This is what can be verified without a TF Serving binary: a fresh
subprocess that imports no tensorflow Python package (nor keras, keras_hub
or tensorflow_text) loads the export through the C API's
`TF_LoadSessionFromSavedModel` (the C++ `LoadSavedModel` that TF Serving's
SavedModelBundle calls), runs `serving_default` with `TF_SessionRun` on the
sample inputs recorded at export time, and compares with the outputs Keras
gave. It also audits every op of the graph and its function library against
the op registry of that process, listing ops a stock server may lack (for
instance tensorflow-text ops of an in-graph tokenizer).

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

from keras_adapters.export.saved_model import (
    METADATA_DIR,
    SAMPLE_INPUTS,
    SAMPLE_OUTPUTS,
    read_export_metadata,
)

CPP_CHECK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpp_check.py")
TOLERANCE = 1e-5


@dataclasses.dataclass
class ExportCheck:
    """Result of `check_export`.

    Attributes:
        path: the export version directory.
        loaded: the C++ loader loaded it.
        ran: `serving_default` ran on the sample inputs.
        max_abs_diff: largest difference to the Keras outputs (None if not run).
        unregistered_ops: ops absent from a bare TensorFlow's op registry.
        problems: human-readable reasons the check failed (empty: passed).
        report: the raw report of the subprocess.
    """

    path: str
    loaded: bool
    ran: bool
    max_abs_diff: float | None
    unregistered_ops: list
    problems: list
    report: dict

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
        matched Keras within 1e-5 and uses only registered ops.

    Raises:
        ValueError: if `path` is not an export written by keras-adapters.

    Example:

    A passing check is in `export_saved_model`'s example; a folder that is
    not an export is refused before any subprocess starts:

    >>> import tempfile
    >>> check_export(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: ...
    """
    path = os.fspath(path)
    metadata = read_export_metadata(path)  # raises for a foreign directory
    signatures = signatures or metadata.get("checked_signatures", ["serving_default"])
    extra = os.path.join(path, METADATA_DIR)
    with tempfile.TemporaryDirectory() as scratch:
        outputs_file = os.path.join(scratch, "outputs.npz")
        command = [
            sys.executable, "-I", CPP_CHECK_SCRIPT, path,
            "--inputs", os.path.join(extra, SAMPLE_INPUTS), "--outputs", outputs_file,
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
            expected = {key: data[key] for key in data.files}
        expected = {k: v for k, v in expected.items() if k.split(".")[0] in signatures}
        if sorted(expected) != sorted(outputs):
            problems.append(f"outputs {sorted(outputs)} differ from Keras' {sorted(expected)}")
        else:
            max_abs_diff = max(
                float(np.abs(outputs[key].astype("float64") - expected[key]).max()) for key in expected
            )
            if not max_abs_diff <= TOLERANCE:
                problems.append(f"outputs differ from Keras predict by {max_abs_diff:.3g} (> {TOLERANCE})")
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
    )


def _parse_report(completed):
    for line in reversed(completed.stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    tail = (completed.stderr or "").strip().splitlines()[-5:]
    return {"loaded": False, "error": f"exit code {completed.returncode}: " + " | ".join(tail)}
