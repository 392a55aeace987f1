"""The backends benchmark part (`benchmarks/backends.py`): rounds, summary, table and docs page.

The part's processes (one per backend and round) are replaced here by
recorded answers, so the order of the rounds and the medians are checked
without measuring. `python -m benchmarks all --quick`
(tests/test_benchmarks.py) runs the whole part with its real processes.
"""

import pathlib

import pytest

from benchmarks import backends
from benchmarks.arms import Settings

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _record(backend, off_ms, on_ms):
    return {
        "backend": backend,
        "devices": ["cpu"],
        "jit_compile": {
            "false": {"ms_per_step": off_ms, "cpu_ms_per_step": 2 * off_ms, "steps": 5},
            "true": {"ms_per_step": on_ms, "cpu_ms_per_step": 2 * on_ms, "steps": 5},
        },
    }


def test_rounds_interleave_the_backends_and_report_the_median_round(monkeypatch):
    calls = []
    answers = {  # backend -> per-round (jit off, jit on) ms; the torch compiler fails
        "tensorflow": [(300, 250), (900, 800), (310, 260)],
        "jax": [(500, 200), (510, 210), (1500, 600)],
    }

    def measure(backend, settings, steps, warmup):
        calls.append(backend)
        if backend == "torch":
            return {"error": "exit status 1: RuntimeError: no compiler"}
        off, on = answers[backend][sum(1 for c in calls if c == backend) - 1]
        return _record(backend, off, on)

    monkeypatch.setattr(backends, "_measure_in_subprocess", measure)
    monkeypatch.setattr(backends, "SCHEDULE", {False: (3, 5, 2), True: (3, 1, 1)})
    result = backends.run_backends(Settings.get(quick=False), log=lambda message: None)
    # Every round measures every backend, starting each round with another one.
    assert calls == ["tensorflow", "jax", "torch", "jax", "torch", "tensorflow", "torch", "tensorflow", "jax"]
    assert result["backends"]["tensorflow"]["false"]["ms_per_step"] == 310
    assert result["backends"]["tensorflow"]["true"]["round_ms_per_step"] == [250, 800, 260]
    assert result["backends"]["jax"]["true"]["ms_per_step"] == 210
    assert result["backends"]["torch"]["true"] == {"error": "exit status 1: RuntimeError: no compiler"}
    assert backends.fastest(result) == ("jax", "true", 210)
    table = backends.markdown_section(result)
    assert "| JAX (op by op / jax.jit) | 510 ms (1020) | **210 ms** (420) |" in table
    assert "| PyTorch (eager / torch.compile) | failed: exit status 1" in table
    assert "Fastest here: JAX with `jit_compile=True`, 210 ms per step, 1.48x the speed of TensorFlow" in table


def test_backends_page_shows_the_committed_measurement(tmp_path):
    committed = ROOT / "benchmarks" / "results" / backends.RESULT_FILE
    result = None
    if committed.exists():
        import json

        result = json.loads(committed.read_text(encoding="utf-8"))
    page = (ROOT / backends.BACKENDS_PAGE).read_text(encoding="utf-8")
    block = page.split(backends.PAGE_START, 1)[1].split(backends.PAGE_END, 1)[0]
    assert block.strip() == backends.page_block(result).strip()
    # And the writer puts a result there, keeping the rest of the page.
    copy = tmp_path / backends.BACKENDS_PAGE
    copy.parent.mkdir()
    copy.write_text(page, encoding="utf-8")
    measured = {"quick": False, "setup": {"backbone": "MiniLM", "arm": "houlsby", "batch_size": 32,
                                          "sequence_length": 48, "rounds": 3, "steps_per_round": 5},
                "backends": {"tensorflow": _record("tensorflow", 300, 250)["jit_compile"]}}
    backends.update_backends_page(measured, repo_root=tmp_path)
    written = copy.read_text(encoding="utf-8")
    assert backends.markdown_section(measured) in written
    assert written.split(backends.PAGE_START)[0] == page.split(backends.PAGE_START)[0]
    with pytest.raises(ValueError, match="no step-time markers"):
        copy.write_text("# Backends\n", encoding="utf-8")
        backends.update_backends_page(measured, repo_root=tmp_path)
