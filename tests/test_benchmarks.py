"""The benchmark suite: its quick mode runs end to end, and the documents show its results.

`make bench-quick` (`python -m benchmarks all --quick`) is the full pipeline
(every arm trained and measured, memory in fresh processes, both scaling
sweeps with jit on and off, report and plots) on a tiny random backbone; it
runs here so the benchmark code cannot rot. The committed full results are
what the README and the docs page show: the generated blocks must match.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks.arms import ARM_NAMES, Settings, build_arm, load_base_backbone
from benchmarks.profile import VARIANTS
from benchmarks.report import DOCUMENTS, END_MARKER, PARTS, PLOTS, START_MARKER, load_results, render_markdown
from keras_adapters import count_parameters

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-quick")
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "all", "--quick", "--out", str(out)],
        cwd=ROOT, check=True, env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    return out


def test_quick_run_writes_results_table_and_plots(quick_results):
    results = load_results(quick_results)
    compare, scaling = results["compare"], results["scaling"]
    assert all(results[part]["quick"] for part in PARTS)
    assert set(compare["arms"]) == set(ARM_NAMES)
    assert compare["machine"]["versions"]["tensorflow"] and compare["machine"]["cpu_cores"] >= 1
    for arm, record in compare["arms"].items():
        assert 0.0 <= record["test_accuracy"] <= 1.0, arm
        assert record["test_examples"] == Settings.get(True).test_examples
        assert record["train_step_median_s"] > 0 and record["latency_batch_32_ms"] > 0
        memory = results["memory"]["arms"][arm]
        assert memory["peak_rss_mib"] > memory["training_rss_increase_mib"] >= 0
        assert 0 < record["stored_bytes"] <= compare["arms"]["full"]["stored_bytes"]
    assert compare["arms"]["full"]["train_step_speedup_vs_full"] == 1.0
    # Trained parameters: everything, then ever fewer.
    trainable = {arm: r["trainable_parameters"] for arm, r in compare["arms"].items()}
    assert trainable["full"] == compare["arms"]["full"]["total_parameters"]
    assert trainable["probe"] < trainable["pfeiffer"] < trainable["houlsby"] < trainable["full"]
    # Both sweeps, with jit off and on.
    settings = Settings.get(True)
    rows = scaling["results"]
    assert {(r["jit_compile"], r["sequence_length"]) for r in rows["sequence_length"]} == {
        (jit, n) for jit in (False, True) for n in settings.scaling_sequence_lengths
    }
    assert {(r["jit_compile"], r["bottleneck_size"]) for r in rows["bottleneck"]} == {
        (jit, b) for jit in (False, True) for b in settings.scaling_bottlenecks
    }
    # The inference profile: every variant at both batch sizes, against the unadapted model.
    profile = results["profile"]["results"]
    for batch in ("batch_1", "batch_32"):
        assert set(profile[batch]) == set(VARIANTS)
        assert profile[batch]["unadapted"]["vs_unadapted"] == 1.0
    for name in PLOTS:
        assert (quick_results / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = (quick_results / "results.md").read_text(encoding="utf-8")
    assert all(f"| {r['label']} |" in table for r in compare["arms"].values())
    assert "| target | arm | measured | met |" in table
    assert json.loads((quick_results / "run.json").read_text())["command"] == "make bench-quick"


def test_quick_results_never_go_into_the_documents(quick_results):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "report", "--out", str(quick_results), "--update-docs"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode != 0 and "quick-mode results" in result.stderr


def test_arm_trainable_counts_match_their_recipes():
    settings = Settings.get(True)
    counts = {}
    for arm in ARM_NAMES:
        model, _ = build_arm(arm, load_base_backbone(settings), 2)
        counts[arm] = count_parameters(model)
    hidden, heads, layers, head = 32, 2, 2, 32 * 2 + 2
    # KerasHub LoRA rank 8 on the query and value EinsumDense layers: factor A
    # is (d, heads, 8), factor B (8, head_dim), and their biases stay trainable.
    per_projection = hidden * heads * 8 + 8 * (hidden // heads) + hidden
    assert counts["lora"].trainable == layers * 2 * per_projection + head
    assert counts["probe"].trainable == head
    # Pfeiffer: one adapter per layer, bottleneck d/16 = 2.
    assert counts["pfeiffer"].trainable == layers * (2 * hidden * 2 + 2 + hidden) + head
    assert counts["full"].trainable == counts["full"].total


def test_documents_show_the_committed_results():
    results = load_results(RESULTS)
    assert not any(results[part]["quick"] for part in PARTS)
    for document, prefix in DOCUMENTS.items():
        text = (ROOT / document).read_text(encoding="utf-8")
        block = text.split(START_MARKER, 1)[1].split(END_MARKER, 1)[0]
        assert block.strip() == render_markdown(results, prefix).strip(), document
    for name in PLOTS:
        assert (RESULTS / name).is_file() and (ROOT / "docs" / "images" / "benchmarks" / name).is_file()
