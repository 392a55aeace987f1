"""The comparison: every arm timed, then trained at equal epochs and equal time.

First every arm's training step and inference latency are measured on
fresh models in interleaved rounds (`measure.interleaved_medians`), so a
change in the machine's speed during the run touches all arms alike (speed
does not depend on the weights). From those step times each arm gets its
budget of full fine-tuning's training time (`equal_time.equal_time_steps`).
Then each arm trains, one seed after another (`Settings.seeds_of`): the
recipe's `E` epochs, a test evaluation (the equal-epochs accuracy), the rest
of its equal-time budget on a restarted schedule, a second evaluation (the
equal-time accuracy). The data is tokenized once, before any of it, so no
run's time includes tokenizing. Memory is measured apart, one fresh process
per arm (`benchmarks/memory.py`).

The LoRA and (IA)^3 arms (`MERGEABLE_ARMS`) are timed a second time merged
into the projections (`merge_adapter`), as they would be served.

`run_compare(settings, arms=...)` measures some arms only (a partial
re-run, merged into an existing `compare.json` by `benchmarks.partial`):
they are timed interleaved with full fine-tuning, whose step time sets
their equal-time budget, and only they are trained.
"""

import tempfile
import time

import keras

from benchmarks.arms import (
    ARM_LABELS,
    ARM_NAMES,
    CACHED_ARMS,
    LEARNING_RATES,
    LORA_RANK,
    MERGEABLE_ARMS,
    RECOMMENDED_ARM,
    SEEDED_ARMS,
    build_arm,
    cached_step_functions,
    compile_arm,
    load_base_backbone,
    merge_for_serving,
    training_model,
)
from benchmarks.equal_time import equal_time_steps
from benchmarks.inputs import fixed_batch, load_data, pretokenized, training_batches
from benchmarks.measure import interleaved_medians, machine_description
from benchmarks.training_runs import train_arm

RESULT_FILE = "compare.json"


def timed_arms(arms):
    """The arms a comparison of `arms` times: those and full fine-tuning, in `ARM_NAMES` order."""
    return tuple(arm for arm in ARM_NAMES if arm in arms or arm == "full")


def measure_speed(settings, data, preprocessor, test, log=print, arms=ARM_NAMES):
    """Training-step times and inference latencies of the arms, interleaved.

    Every arm is a fresh model trained on the same fixed batch, through what
    its training runs (`arms.training_data`: the cached arm trains on cached
    prefix states). For the cached arm the prefix pass that fills the cache
    is timed too (`<arm>/prefix`, per batch); for `MERGEABLE_ARMS` the
    latency of a second model with the adapter merged (`<arm>/merged`).

    Args:
        settings: the run's `Settings`.
        data, preprocessor, test: what `load_data` returns.
        log: prints a progress line.
        arms: the arms to time; full fine-tuning is always timed (the
            reference of every ratio and budget).

    Returns:
        `(steps, latency_1, latency_32)`: dicts name -> `interleaved_medians` record.
    """
    num_classes = len(data.label_names)
    train_x, train_y = fixed_batch(data.train, preprocessor, settings.batch_size)
    models, steps = {}, {}
    for arm in timed_arms(arms):
        keras.utils.set_random_seed(settings.seed)
        model, _ = build_arm(arm, load_base_backbone(settings), num_classes)
        compile_arm(model, arm, total_steps=1000, jit_compile=settings.jit_compile, run_eagerly=settings.run_eagerly)
        models[arm] = model
        if arm in CACHED_ARMS:
            cache = training_model(arm, model, settings.seed)
            steps[arm], steps[f"{arm}/prefix"] = cached_step_functions(cache, train_x, train_y)
        else:
            steps[arm] = lambda m=model: m.train_on_batch(train_x, train_y)
        if arm in MERGEABLE_ARMS:
            # A model of its own, merged before its first predict: traced as served.
            merged, backbone = build_arm(arm, load_base_backbone(settings), num_classes)
            merge_for_serving(arm, backbone)
            # Compiled as the others: the same predict path (eager in the quick run).
            compile_arm(merged, arm, total_steps=1000, jit_compile=settings.jit_compile,
                        run_eagerly=settings.run_eagerly)
            models[f"{arm}/merged"] = merged
    log(f"== training-step time, {len(steps)} arms interleaved")
    step_times = interleaved_medians(
        steps, rounds=settings.timing_rounds, calls_per_round=settings.timing_calls
    )
    log("== inference latency at batch 1 and 32, arms interleaved")
    test_x, _ = fixed_batch(test, preprocessor, 32)
    single = {k: v[:1] for k, v in test_x.items()}
    latency_1 = interleaved_medians(
        {arm: (lambda m=m: m.predict_on_batch(single)) for arm, m in models.items()},
        rounds=settings.timing_rounds,
        calls_per_round=settings.latency_calls_batch_1,
    )
    latency_32 = interleaved_medians(
        {arm: (lambda m=m: m.predict_on_batch(test_x)) for arm, m in models.items()},
        rounds=settings.timing_rounds,
        calls_per_round=settings.latency_calls_batch_32,
    )
    del models, steps
    keras.backend.clear_session()
    return step_times, latency_1, latency_32


def _latency_fields(name, latency_1, latency_32, suffix=""):
    """An arm's latencies (ms) and their ratios to the unadapted model (the full fine-tuning graph)."""
    return {
        f"latency_batch_1{suffix}_ms": 1000 * latency_1[name]["median_s"],
        f"latency_batch_32{suffix}_ms": 1000 * latency_32[name]["median_s"],
        f"latency_batch_1{suffix}_vs_unadapted": latency_1[name]["median_s"] / latency_1["full"]["median_s"],
        f"latency_batch_32{suffix}_vs_unadapted": latency_32[name]["median_s"] / latency_32["full"]["median_s"],
    }


def add_storage_shares(compare):
    """Sets every arm's `stored_share_of_full` from full fine-tuning's `stored_bytes`."""
    full_bytes = compare["arms"]["full"]["stored_bytes"]
    for record in compare["arms"].values():
        record["stored_share_of_full"] = record["stored_bytes"] / full_bytes


def run_compare(settings, log=print, arms=None):
    """Times and trains every arm, or only `arms`.

    Args:
        settings: the run's `Settings`.
        log: prints a progress line.
        arms: the arms to measure (None: all of `ARM_NAMES`). Full
            fine-tuning is timed in any case; it is trained only if named.

    Returns:
        The `compare.json` dict (with `arms` only the named arms, and
        `full_timing`: full fine-tuning's step and latencies in this run).
    """
    started = time.time()
    trained = ARM_NAMES if arms is None else tuple(arm for arm in ARM_NAMES if arm in arms)
    keras.utils.set_random_seed(settings.seed)
    data, preprocessor, test = load_data(settings)
    steps_per_epoch = -(-data.num_examples["train"] // settings.batch_size)
    equal_epoch_steps = steps_per_epoch * settings.epochs
    train_examples = pretokenized(data.train, preprocessor)
    # 250 divides the 2,000 test examples: one traced predict shape per model.
    test_ds = training_batches(pretokenized(test, preprocessor), 250)

    steps, latency_1, latency_32 = measure_speed(settings, data, preprocessor, test, log, trained)
    full_step = steps["full"]["median_s"]
    machine = machine_description()
    measured_in = {
        "command": "compare" if arms is None else f"compare --arms {','.join(trained)}",
        "git_commit": machine["git_commit"],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "full_train_step_median_s": full_step,
    }
    records = {}
    for arm in trained:
        step = steps[arm]["median_s"]
        # The prefix pass fills the cache once: one pass over the training data.
        once = steps_per_epoch * steps[f"{arm}/prefix"]["median_s"] if arm in CACHED_ARMS else 0.0
        records[arm] = {
            "label": ARM_LABELS[arm],
            "learning_rate": LEARNING_RATES[arm],
            "seeds": list(settings.seeds_of(arm)),
            "measured_in": measured_in,
            "train_step_median_s": step,
            "train_step_speedup_vs_full": full_step / step,
            "once_seconds": once,
            "equal_epochs_speedup_vs_full": equal_epoch_steps * full_step / (equal_epoch_steps * step + once),
            "equal_time_steps": equal_time_steps(equal_epoch_steps, full_step, step, once),
            **_latency_fields(arm, latency_1, latency_32),
        }
        if arm in MERGEABLE_ARMS:
            records[arm].update(_latency_fields(f"{arm}/merged", latency_1, latency_32, "_merged"))
        if arm in CACHED_ARMS:
            records[arm]["prefix_pass_median_s"] = steps[f"{arm}/prefix"]["median_s"]
        log(f"   {arm}: step {step:.3f} s ({full_step / step:.2f}x), equal-time budget "
            f"{records[arm]['equal_time_steps']} steps ({equal_epoch_steps} at equal epochs)")

    with tempfile.TemporaryDirectory() as storage_dir:
        for arm in trained:
            train_arm(arm, records[arm], settings, data, train_examples, test_ds, storage_dir, log)

    result = {
        "kind": "keras-adapters/benchmark-compare",
        "quick": settings.quick,
        "machine": machine,
        "setup": {
            "backbone": settings.backbone_description,
            "dataset": data.name,
            "examples": data.num_examples | {"test_used": next(iter(records.values()))["test_examples"]},
            "sequence_length": settings.sequence_length,
            "batch_size": settings.batch_size,
            "epochs": settings.epochs,
            "steps_per_epoch": steps_per_epoch,
            "seed": settings.seed,
            "seeds": settings.seeds,
            "jit_compile": settings.jit_compile,
            "seeded_arms": list(SEEDED_ARMS),
            "recommended_arm": RECOMMENDED_ARM,
            "lora_rank": LORA_RANK,
            "optimizer": "AdamW, weight decay 0.01, warm-up 10% then linear decay",
            "timing": (
                f"median of {settings.timing_rounds} interleaved rounds x "
                f"{settings.timing_calls} train_on_batch calls per arm on fresh models, before "
                f"training; latency: predict_on_batch, {settings.latency_calls_batch_1} (batch 1) "
                f"and {settings.latency_calls_batch_32} (batch 32) calls per round"
            ),
        },
        "arms": records,
        "full_timing": {"train_step_median_s": full_step, **_latency_fields("full", latency_1, latency_32)},
        "duration_seconds": time.time() - started,
    }
    if "full" in records:
        add_storage_shares(result)
    return result
