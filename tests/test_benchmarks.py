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

from benchmarks.arms import ADAPTER_ARMS, ARM_NAMES, CACHED_ARMS, SEEDED_ARMS, Settings, build_arm, load_base_backbone
from benchmarks.equal_time import RestartedWarmupLinearDecay, equal_time_steps
from benchmarks.plots import PARETO_PLOTS, PLOTS
from benchmarks.profile import QUICK_VARIANTS, TOP_HALF_VARIANT
from benchmarks.report import DOCUMENTS, END_MARKER, PARTS, START_MARKER, load_results, render_markdown
from benchmarks.targets import fast_targets, recommended_setting
from keras_adapters import KerasAdaptersError, count_parameters
from keras_adapters.training import split_frozen_prefix
from keras_adapters.training.schedules import learning_rate_schedule

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


@pytest.mark.slow
def test_quick_run_writes_results_table_and_plots(quick_results):
    results = load_results(quick_results)
    compare, scaling = results["compare"], results["scaling"]
    assert all(results[part]["quick"] for part in PARTS)
    assert set(compare["arms"]) == set(ARM_NAMES)
    assert compare["machine"]["versions"]["tensorflow"] and compare["machine"]["cpu_cores"] >= 1
    settings = Settings.get(True)
    equal_epoch_steps = compare["setup"]["steps_per_epoch"] * settings.epochs
    for arm, record in compare["arms"].items():
        assert 0.0 <= record["test_accuracy"] <= 1.0, arm
        # Equal time: one run per seed, the budget from the interleaved step times.
        assert 0.0 <= record["equal_time_accuracy"] <= 1.0, arm
        assert [run["seed"] for run in record["runs"]] == list(settings.seeds_of(arm)) == [0], arm
        expected = equal_time_steps(
            equal_epoch_steps, compare["arms"]["full"]["train_step_median_s"],
            record["train_step_median_s"], record["once_seconds"],
        )
        assert record["equal_time_steps"] == expected, arm
        assert record["runs"][0]["extra_steps"] == max(0, expected - equal_epoch_steps), arm
        assert record["test_examples"] == Settings.get(True).test_examples
        assert record["train_step_median_s"] > 0 and record["latency_batch_32_ms"] > 0
        memory = results["memory"]["arms"][arm]
        assert memory["peak_rss_mib"] > memory["training_rss_increase_mib"] >= 0
        assert 0 < record["stored_bytes"] <= compare["arms"]["full"]["stored_bytes"]
    assert compare["arms"]["full"]["train_step_speedup_vs_full"] == 1.0
    full = compare["arms"]["full"]
    assert full["equal_time_steps"] == equal_epoch_steps and full["equal_time_accuracy"] == full["test_accuracy"]
    # Some faster arm went on past the equal epochs (on the restarted schedule).
    assert any(r["runs"][0]["extra_steps"] > 0 for r in compare["arms"].values())
    for arm in CACHED_ARMS:
        record = compare["arms"][arm]
        assert record["prefix_pass_median_s"] > 0 and record["once_seconds"] > 0
        # The run trained from a cache of the whole training set.
        assert record["runs"][0]["cache_bytes"] > 0
    # Trained parameters: everything, then ever fewer.
    trainable = {arm: r["trainable_parameters"] for arm, r in compare["arms"].items()}
    assert trainable["full"] == compare["arms"]["full"]["total_parameters"]
    assert trainable["probe"] < trainable["pfeiffer"] < trainable["houlsby"] < trainable["full"]
    assert trainable["houlsby_top"] == trainable["houlsby_top_cached"] < trainable["houlsby"]
    # Both sweeps, with jit off and on.
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
        assert set(profile[batch]) == set(QUICK_VARIANTS) and TOP_HALF_VARIANT in profile[batch]
        assert profile[batch]["unadapted"]["vs_unadapted"] == 1.0
    for name in PLOTS:
        assert (quick_results / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = (quick_results / "results.md").read_text(encoding="utf-8")
    assert all(f"| {r['label']} |" in table for r in compare["arms"].values())
    assert "| test accuracy, equal epochs | test accuracy, equal time (epochs) |" in table
    assert "| target | arm | measured | met |" in table
    for target, _, _, _ in fast_targets(compare, results["profile"]):
        assert f"| {target} |" in table
    assert "Best adapter setting within full fine-tuning's training time" in table
    assert all(f"]({name})" in table for name in PARETO_PLOTS)
    assert json.loads((quick_results / "run.json").read_text())["command"] == "make bench-quick"


@pytest.mark.slow
def test_quick_results_never_go_into_the_documents(quick_results):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "report", "--out", str(quick_results), "--update-docs"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode != 0 and "quick-mode results" in result.stderr


def test_arm_trainable_counts_match_their_recipes():
    settings = Settings.get(True)
    counts, models = {}, {}
    for arm in ARM_NAMES:
        models[arm], _ = build_arm(arm, load_base_backbone(settings), 2)
        counts[arm] = count_parameters(models[arm])
    hidden, heads, layers, head = 32, 2, 2, 32 * 2 + 2
    # KerasHub LoRA rank 8 on the query and value EinsumDense layers: factor A
    # is (d, heads, 8), factor B (8, head_dim), and their biases stay trainable.
    per_projection = hidden * heads * 8 + 8 * (hidden // heads) + hidden
    assert counts["lora"].trainable == layers * 2 * per_projection + head
    assert counts["probe"].trainable == head
    # Pfeiffer: one adapter per layer, bottleneck d/16 = 2.
    assert counts["pfeiffer"].trainable == layers * (2 * hidden * 2 + 2 + hidden) + head
    assert counts["full"].trainable == counts["full"].total
    # Top half (the upper 1 of 2 blocks): its two Houlsby adapters (b=64) and
    # its two layer norms; nothing below it trains.
    houlsby_adapter, norms = 2 * hidden * 64 + 64 + hidden, 2 * 2 * hidden
    for arm in ("houlsby_top", "houlsby_top_cached"):
        assert counts[arm].trainable == 2 * houlsby_adapter + norms + head, arm
    # The cached arm's prefix (block 0) runs without dropout, as the cache requires.
    assert split_frozen_prefix(models["houlsby_top_cached"]).block == 1
    with pytest.raises(KerasAdaptersError, match="still has dropout"):
        split_frozen_prefix(models["houlsby_top"])


def test_equal_time_budget_comes_from_the_step_times():
    # Twice as fast: twice the steps; a once-only prefix pass is paid from the same budget.
    assert equal_time_steps(100, 0.4, 0.2) == 200
    assert equal_time_steps(100, 0.4, 0.1, once_seconds=5.0) == 350
    assert equal_time_steps(100, 0.4, 0.3) == 133  # floor: never more time than full's
    assert equal_time_steps(100, 0.4, 0.5) == 80  # slower than full fine-tuning
    assert equal_time_steps(10, 0.1, 0.1, once_seconds=5.0) == 0


def test_restarted_schedule_is_the_recipe_then_a_second_cycle():
    import tensorflow as tf

    schedule = RestartedWarmupLinearDecay(1e-3, first_steps=40, extra_steps=60)
    recipe = learning_rate_schedule(1e-3, total_steps=40)
    rates = [float(schedule(step)) for step in range(100)]
    # The first 40 steps are exactly an equal-epochs run of the recipe.
    assert rates[:40] == [float(recipe(step)) for step in range(40)]
    # Then warm-up over 10% of the 60 extra steps to the same peak, and decay to 0.
    assert rates[40] == 0.0 and rates[46] == pytest.approx(1e-3) and rates[45] < rates[46]
    assert rates[99] == pytest.approx(1e-3 / 54) and float(schedule(100)) == 0.0
    # As the optimizer calls it, in a traced function with a variable step.
    step = tf.Variable(50, dtype="int64")
    assert float(tf.function(schedule)(step)) == pytest.approx(rates[50])
    assert float(RestartedWarmupLinearDecay(1e-3, 40, 0)(45)) == 0.0  # no second cycle


def _compare_results(accuracy, equal_time, speedup, seeds, within=None):
    """A minimal compare.json: per arm its accuracies, speed-ups and seed count."""
    arms = {}
    for arm in ARM_NAMES:
        arms[arm] = {
            "test_accuracy": accuracy.get(arm, 0.8),
            "equal_time_accuracy": equal_time.get(arm, accuracy.get(arm, 0.8)),
            "equal_time_within_budget": (within or {}).get(arm, True),
            "equal_time_epochs": 2.0,
            "equal_epochs_speedup_vs_full": speedup.get(arm, 1.0),
            "train_step_speedup_vs_full": 3.5 if arm in CACHED_ARMS else speedup.get(arm, 1.0),
            "latency_batch_32_vs_unadapted": 1.02,
            "runs": [{"seed": s, "epoch_seconds": [10.0 if arm == "full" else 3.0]}
                     for s in range(seeds.get(arm, 1))],
        }
    return {"arms": arms}


def test_recommended_setting_is_the_best_adapter_within_full_fine_tunings_time():
    compare = _compare_results(
        accuracy={},
        equal_time={"lora": 0.95, "houlsby": 0.90, "houlsby_top": 0.86, "houlsby_top_cached": 0.86},
        speedup={"houlsby_top": 2.1, "houlsby_top_cached": 2.8},
        seeds={},
        within={"houlsby": False},  # slower than full: its equal-time value took longer
    )
    # Not LoRA (not an adapter setting), not houlsby (over time); the tie goes to the faster.
    assert recommended_setting(compare) == "houlsby_top_cached"
    compare["arms"]["houlsby_top"]["equal_time_accuracy"] = 0.87
    assert recommended_setting(compare) == "houlsby_top"


def test_speed_and_accuracy_target_needs_three_seeds_of_a_fast_setting():
    profile = {"results": {"batch_32": {
        "unadapted": {"vs_unadapted": 1.0}, "unadapted (second copy)": {"vs_unadapted": 1.03},
        TOP_HALF_VARIANT: {"vs_unadapted": 1.04},
    }}}
    seeds = {arm: 3 for arm in SEEDED_ARMS}
    accuracy = {"full": 0.842, "houlsby": 0.845, "houlsby_top_cached": 0.838}
    speedup = {"houlsby": 1.46, "houlsby_top_cached": 2.9}
    equal_time = {"houlsby_top_cached": 0.85}  # the recommended setting: its overhead is judged
    rows = fast_targets(_compare_results(accuracy, equal_time, speedup, seeds), profile)
    fast = rows[0]
    # Judged on the fast arm (houlsby is closer to full but at 1.46x), 0.4 points below: met.
    assert fast[1] == "houlsby_top_cached" and fast[2].startswith("2.90x, -0.40 points (3 seed(s))")
    assert fast[3]
    rows = fast_targets(_compare_results(accuracy, equal_time, speedup, {}), profile)
    assert rows[0][1] == "houlsby_top_cached" and not rows[0][3]  # one seed is not enough
    assert [row[3] for row in rows[2:]] == [True, True]  # cache epochs 3.5x; overhead 4% <= 5%
    assert "noise floor 3.0%" in rows[3][2]
    assert all(arm in ADAPTER_ARMS for _, arm, _, _ in rows)


def _committed_results_predate_the_equal_time_arms():
    compare = json.loads((RESULTS / "compare.json").read_text(encoding="utf-8"))
    return "seeded_arms" not in compare["setup"]


# The committed results (commit d2372c3) were measured before the equal-time
# arms existed; `make bench` regenerates them in the new format, after which
# this strict xfail fails loudly and must be removed.
@pytest.mark.xfail(
    _committed_results_predate_the_equal_time_arms(), strict=True,
    reason="benchmarks/results predate the equal-time arms: run `make bench`",
)
def test_documents_show_the_committed_results():
    results = load_results(RESULTS)
    assert not any(results[part]["quick"] for part in PARTS)
    for document, prefix in DOCUMENTS.items():
        text = (ROOT / document).read_text(encoding="utf-8")
        block = text.split(START_MARKER, 1)[1].split(END_MARKER, 1)[0]
        assert block.strip() == render_markdown(results, prefix).strip(), document
    for name in PLOTS:
        assert (RESULTS / name).is_file() and (ROOT / "docs" / "images" / "benchmarks" / name).is_file()
