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
"""

import functools
import os
import statistics
import tempfile
import time

import keras
import numpy as np

from benchmarks.arms import (
    ADAPTER_ARMS,
    ARM_LABELS,
    ARM_NAMES,
    CACHED_ARMS,
    LEARNING_RATES,
    LORA_RANK,
    RECOMMENDED_ARM,
    SEEDED_ARMS,
    build_arm,
    cached_step_functions,
    compile_arm,
    load_base_backbone,
    training_model,
)
from benchmarks.equal_time import equal_time_steps
from benchmarks.measure import interleaved_medians, machine_description
from keras_adapters import count_parameters, save_adapters
from keras_adapters.data import load_dataset
from keras_adapters.pretrained import load_preprocessor
from keras_adapters.training import tokenized
from keras_adapters.training.metrics import classification_metrics
from keras_adapters.training.pipeline import labels_and_logits
from keras_adapters.training.prefix_store import clear_memory_cache
from keras_adapters.utils.sizes import directory_bytes

RESULT_FILE = "compare.json"


@functools.lru_cache(maxsize=1)
def load_data(settings):
    """The labelled data and tokenizer every arm uses (read once per process)."""
    data = load_dataset(settings.dataset, seed=settings.seed, max_examples=settings.train_examples)
    preprocessor = load_preprocessor("minilm_l6", settings.sequence_length)
    test = data.test
    if settings.test_examples:
        test = test.take(settings.test_examples)
    return data, preprocessor, test


def pretokenized(dataset, preprocessor):
    """`(text, label)` examples tokenized once and held in memory, unbatched.

    Every arm batches (and, but the cached arm, shuffles) these, so no arm's
    training time includes tokenizing, and the arms see the same tensors.

    Args:
        dataset: a `tf.data.Dataset` of unbatched `(text, label)` pairs.
        preprocessor: the KerasHub preprocessor of the benchmark.

    Returns:
        A cached `tf.data.Dataset` of unbatched `(features dict, label)`.
    """
    examples = tokenized(dataset, preprocessor, 256).unbatch().cache()
    for _ in examples:  # fill the cache now, outside every timed run
        pass
    return examples


def training_batches(examples, batch_size, shuffle_seed=None):
    """Batches of `pretokenized` examples, as `keras_adapters.training.tokenized` makes them.

    Args:
        examples: what `pretokenized` returns.
        batch_size: examples per batch.
        shuffle_seed: reshuffle each epoch with this seed; None: keep the order.

    Returns:
        A prefetched `tf.data.Dataset` of `(features dict, labels)` batches.
    """
    import tensorflow as tf  # tf.data is the input pipeline, as in keras_adapters.training.tokenized

    if shuffle_seed is not None:
        examples = examples.shuffle(16384, seed=shuffle_seed, reshuffle_each_iteration=True)
    return examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _head_weights(model, backbone):
    backbone_ids = {id(w) for w in backbone.weights}
    return [w for w in model.weights if id(w) not in backbone_ids]


def stored_bytes(arm, model, backbone, directory):
    """Bytes a user must keep per task for this arm, written for real.

    Returns:
        `(bytes, what)`: the size, and what the files are.
    """
    from safetensors.numpy import save_file

    path = os.path.join(directory, arm)
    os.makedirs(path)
    head = {w.path: keras.ops.convert_to_numpy(w) for w in _head_weights(model, backbone)}
    if arm == "full":
        # Weights only: Keras' `.weights.h5` would also hold the optimizer's
        # two moments (3x the size), which serving a task does not need.
        every = {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}
        save_file(every, os.path.join(path, "model.safetensors"))
        return directory_bytes(path), "every weight (safetensors)"
    if arm in ADAPTER_ARMS:
        save_adapters(model, os.path.join(path, "adapter"))
        return directory_bytes(path), "adapter + layer norms + head (save_adapters)"
    save_file(head, os.path.join(path, "head.safetensors"))
    if arm == "lora":
        backbone.save_lora_weights(os.path.join(path, "backbone.lora.h5"))
        return directory_bytes(path), "LoRA factors (save_lora_weights) + head (safetensors)"
    return directory_bytes(path), "head (safetensors)"


def fixed_batch(dataset, preprocessor, batch_size):
    features, labels = next(iter(tokenized(dataset, preprocessor, batch_size)))
    features = {k: keras.ops.convert_to_numpy(v) for k, v in features.items()}
    return features, np.asarray(labels)


def measure_speed(settings, data, preprocessor, test, log=print):
    """Training-step times and inference latencies of every arm, interleaved.

    Every arm is a fresh model trained on the same fixed batch, through what
    its training runs (`arms.training_data`: the cached arm trains on cached
    prefix states). For the cached arm the prefix pass that fills the cache
    is timed too (`<arm>/prefix`, per batch).

    Args:
        settings: the run's `Settings`.
        data, preprocessor, test: what `load_data` returns.
        log: prints a progress line.

    Returns:
        `(steps, latency_1, latency_32)`: dicts name -> `interleaved_medians` record.
    """
    num_classes = len(data.label_names)
    train_x, train_y = fixed_batch(data.train, preprocessor, settings.batch_size)
    models, steps = {}, {}
    for arm in ARM_NAMES:
        keras.utils.set_random_seed(settings.seed)
        model, _ = build_arm(arm, load_base_backbone(settings), num_classes)
        compile_arm(model, arm, total_steps=1000, run_eagerly=settings.run_eagerly)
        models[arm] = model
        if arm in CACHED_ARMS:
            cache = training_model(arm, model, settings.seed)
            steps[arm], steps[f"{arm}/prefix"] = cached_step_functions(cache, train_x, train_y)
        else:
            steps[arm] = lambda m=model: m.train_on_batch(train_x, train_y)
    log("== training-step time, arms interleaved")
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


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch of a `fit`."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self._started = None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)


def _test_metrics(model, test_ds, label_names):
    labels, logits = labels_and_logits(model, test_ds)
    metrics = classification_metrics(labels, logits, label_names)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "examples": metrics["num_examples"]}


def train_run(arm, seed, settings, data, train_examples, test_ds, equal_time_budget):
    """One training run of `arm`: equal epochs, then the rest of its equal-time budget.

    The rest runs as whole epochs plus one partial epoch (Keras' `fit`
    cannot cross an epoch boundary within `steps_per_epoch`).

    Args:
        arm, seed: the arm and its training seed.
        settings: the run's `Settings`.
        data: the `load_dataset` result (label names, example counts).
        train_examples, test_ds: `pretokenized` training examples, test batches.
        equal_time_budget: the arm's steps in full fine-tuning's time.

    Returns:
        `(record, model, backbone)`: the run's accuracies and wall times,
        and the trained model.
    """
    steps_per_epoch = -(-data.num_examples["train"] // settings.batch_size)
    equal_epoch_steps = steps_per_epoch * settings.epochs
    extra_steps = max(0, equal_time_budget - equal_epoch_steps)
    cached = arm in CACHED_ARMS
    if cached:
        clear_memory_cache()  # each run fills its own cache, as its budget assumes
    keras.utils.set_random_seed(seed)
    model, backbone = build_arm(arm, load_base_backbone(settings), len(data.label_names))
    compile_arm(model, arm, equal_epoch_steps, extra_steps=extra_steps, run_eagerly=settings.run_eagerly)
    # The cache reads the data in order (its order is part of the key) and shuffles itself.
    train_ds = training_batches(train_examples, settings.batch_size, None if cached else seed)
    fit_model = training_model(arm, model, seed)
    timer = EpochTimer()
    started = time.perf_counter()
    fit_model.fit(train_ds, epochs=settings.epochs, callbacks=[timer], verbose=2)
    record = {
        "seed": seed,
        "equal_epochs_train_seconds": time.perf_counter() - started,
        "epoch_seconds": timer.seconds,
        "equal_epochs": _test_metrics(model, test_ds, data.label_names),
        "extra_steps": extra_steps,
        "extra_train_seconds": 0.0,
    }
    if cached:
        record["cache_bytes"] = fit_model.last_cache.nbytes
    if extra_steps:
        whole_epochs, rest = divmod(extra_steps, steps_per_epoch)
        started = time.perf_counter()
        if whole_epochs:
            fit_model.fit(train_ds, epochs=whole_epochs, verbose=2)
        if rest:
            fit_model.fit(train_ds, epochs=1, steps_per_epoch=rest, verbose=2)
        record["extra_train_seconds"] = time.perf_counter() - started
        record["equal_time"] = _test_metrics(model, test_ds, data.label_names)
    else:
        record["equal_time"] = record["equal_epochs"]
    if cached:
        clear_memory_cache()
    return record, model, backbone


def _mean_std(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def run_compare(settings, log=print):
    """Times and trains every arm.

    Args:
        settings: the run's `Settings`.
        log: prints a progress line.

    Returns:
        The `compare.json` dict.
    """
    started = time.time()
    keras.utils.set_random_seed(settings.seed)
    data, preprocessor, test = load_data(settings)
    steps_per_epoch = -(-data.num_examples["train"] // settings.batch_size)
    equal_epoch_steps = steps_per_epoch * settings.epochs
    train_examples = pretokenized(data.train, preprocessor)
    # 250 divides the 2,000 test examples: one traced predict shape per model.
    test_ds = training_batches(pretokenized(test, preprocessor), 250)

    steps, latency_1, latency_32 = measure_speed(settings, data, preprocessor, test, log)
    full_step = steps["full"]["median_s"]
    arms = {}
    for arm in ARM_NAMES:
        step = steps[arm]["median_s"]
        # The prefix pass fills the cache once: one pass over the training data.
        once = steps_per_epoch * steps[f"{arm}/prefix"]["median_s"] if arm in CACHED_ARMS else 0.0
        arms[arm] = {
            "label": ARM_LABELS[arm],
            "learning_rate": LEARNING_RATES[arm],
            "seeds": list(settings.seeds_of(arm)),
            "train_step_median_s": step,
            "train_step_speedup_vs_full": full_step / step,
            "once_seconds": once,
            "equal_epochs_speedup_vs_full": equal_epoch_steps * full_step / (equal_epoch_steps * step + once),
            "equal_time_steps": equal_time_steps(equal_epoch_steps, full_step, step, once),
            # The full fine-tuning model is the unadapted graph (backbone + head).
            "latency_batch_1_ms": 1000 * latency_1[arm]["median_s"],
            "latency_batch_32_ms": 1000 * latency_32[arm]["median_s"],
            "latency_batch_1_vs_unadapted": latency_1[arm]["median_s"] / latency_1["full"]["median_s"],
            "latency_batch_32_vs_unadapted": latency_32[arm]["median_s"] / latency_32["full"]["median_s"],
        }
        if arm in CACHED_ARMS:
            arms[arm]["prefix_pass_median_s"] = steps[f"{arm}/prefix"]["median_s"]
        log(f"   {arm}: step {step:.3f} s ({full_step / step:.2f}x), equal-time budget "
            f"{arms[arm]['equal_time_steps']} steps ({equal_epoch_steps} at equal epochs)")

    with tempfile.TemporaryDirectory() as storage_dir:
        for arm in ARM_NAMES:
            record, runs = arms[arm], []
            for seed in settings.seeds_of(arm):
                log(f"== {ARM_LABELS[arm]}, seed {seed}: {settings.epochs} epoch(s) = "
                    f"{equal_epoch_steps} steps, then {max(0, record['equal_time_steps'] - equal_epoch_steps)} "
                    "more in full fine-tuning's time")
                run, model, backbone = train_run(
                    arm, seed, settings, data, train_examples, test_ds, record["equal_time_steps"]
                )
                runs.append(run)
                log(f"   test accuracy {run['equal_epochs']['accuracy']:.4f} at equal epochs, "
                    f"{run['equal_time']['accuracy']:.4f} at equal time")
                if seed == settings.seed:
                    parameters = count_parameters(model)
                    size, what = stored_bytes(arm, model, backbone, storage_dir)
                del model, backbone
                keras.backend.clear_session()
            accuracy, accuracy_std = _mean_std([r["equal_epochs"]["accuracy"] for r in runs])
            time_accuracy, time_accuracy_std = _mean_std([r["equal_time"]["accuracy"] for r in runs])
            record.update({
                "runs": runs,
                # At equal epochs (the recipe's epochs), mean over the seeds.
                "test_accuracy": accuracy,
                "test_accuracy_std": accuracy_std,
                "test_macro_f1": statistics.fmean(r["equal_epochs"]["macro_f1"] for r in runs),
                "test_examples": runs[0]["equal_epochs"]["examples"],
                "equal_time_accuracy": time_accuracy,
                "equal_time_accuracy_std": time_accuracy_std,
                "equal_time_epochs": max(record["equal_time_steps"], equal_epoch_steps) / steps_per_epoch,
                # Slower than full fine-tuning: its equal-epochs run took longer.
                "equal_time_within_budget": record["equal_time_steps"] >= equal_epoch_steps,
                "train_wall_seconds": statistics.fmean(r["equal_epochs_train_seconds"] for r in runs),
                "equal_time_wall_seconds": statistics.fmean(
                    r["equal_epochs_train_seconds"] + r["extra_train_seconds"] for r in runs
                ),
                "trainable_parameters": parameters.trainable,
                "total_parameters": parameters.total,
                "trainable_share": parameters.trainable_share,
                "stored_bytes": size,
                "stored_what": what,
            })

    full_bytes = arms["full"]["stored_bytes"]
    for record in arms.values():
        record["stored_share_of_full"] = record["stored_bytes"] / full_bytes

    return {
        "kind": "keras-adapters/benchmark-compare",
        "quick": settings.quick,
        "machine": machine_description(),
        "setup": {
            "backbone": settings.backbone_description,
            "dataset": data.name,
            "examples": data.num_examples | {"test_used": arms["full"]["test_examples"]},
            "sequence_length": settings.sequence_length,
            "batch_size": settings.batch_size,
            "epochs": settings.epochs,
            "steps_per_epoch": steps_per_epoch,
            "seed": settings.seed,
            "seeds": settings.seeds,
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
        "arms": arms,
        "duration_seconds": time.time() - started,
    }
