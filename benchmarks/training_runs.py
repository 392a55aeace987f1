"""One arm's training runs: equal epochs, then the rest of its equal-time budget.

`train_run` trains one seed (`benchmarks.equal_time` gives the budget and
the restarted schedule); `train_arm` runs every seed of an arm and adds
the mean accuracies, trainable counts, stored size and wall times to the
arm's record in `compare.json`.
"""

import os
import statistics
import time

import keras

from benchmarks.arms import (
    ADAPTER_ARMS,
    ARM_LABELS,
    CACHED_ARMS,
    build_arm,
    compile_arm,
    load_base_backbone,
    training_model,
)
from benchmarks.inputs import training_batches
from keras_adapters import count_parameters, save_adapters
from keras_adapters.training.metrics import classification_metrics
from keras_adapters.training.pipeline import labels_and_logits
from keras_adapters.training.prefix_store import clear_memory_cache
from keras_adapters.utils.sizes import directory_bytes


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
    compile_arm(model, arm, equal_epoch_steps, jit_compile=settings.jit_compile, extra_steps=extra_steps,
                run_eagerly=settings.run_eagerly)
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


def train_arm(arm, record, settings, data, train_examples, test_ds, storage_dir, log):
    """Trains `arm` with each of its seeds; adds the accuracies, sizes and wall times to `record`."""
    steps_per_epoch = -(-data.num_examples["train"] // settings.batch_size)
    equal_epoch_steps = steps_per_epoch * settings.epochs
    runs = []
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
