"""The comparison: every arm trained and measured in one process.

Accuracy comes from training each arm in turn on the same data. Timings
come afterwards, with every arm's trained model alive, in interleaved rounds
(`measure.interleaved_medians`), so a change in the machine's speed during
the run touches all arms alike. Memory is measured apart, one fresh process
per arm (`benchmarks/memory.py`).
"""

import os
import tempfile
import time

import keras
import numpy as np

from benchmarks.arms import (
    ARM_LABELS,
    ARM_NAMES,
    LEARNING_RATES,
    LORA_RANK,
    build_arm,
    compile_arm,
    load_base_backbone,
)
from benchmarks.measure import interleaved_medians, machine_description
from keras_adapters import count_parameters, save_adapters
from keras_adapters.data import load_dataset
from keras_adapters.pretrained import load_preprocessor
from keras_adapters.training.metrics import classification_metrics
from keras_adapters.training import tokenized
from keras_adapters.utils.sizes import directory_bytes

RESULT_FILE = "compare.json"


def load_data(settings):
    """The labelled data and tokenizer every arm uses."""
    data = load_dataset(settings.dataset, seed=settings.seed, max_examples=settings.train_examples)
    preprocessor = load_preprocessor("minilm_l6", settings.sequence_length)
    test = data.test
    if settings.test_examples:
        test = test.take(settings.test_examples)
    return data, preprocessor, test


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
    if arm in ("houlsby", "pfeiffer"):
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


def run_compare(settings, log=print):
    """Trains and measures every arm; returns the results dict."""
    started = time.time()
    keras.utils.set_random_seed(settings.seed)
    data, preprocessor, test = load_data(settings)
    steps_per_epoch = -(-data.num_examples["train"] // settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    train_ds = tokenized(data.train, preprocessor, settings.batch_size, shuffle_seed=settings.seed)
    test_ds = tokenized(test, preprocessor, 64)

    models, arms = {}, {}
    with tempfile.TemporaryDirectory() as storage_dir:
        for arm in ARM_NAMES:
            log(f"== {ARM_LABELS[arm]}: training {settings.epochs} epoch(s), {total_steps} steps")
            keras.utils.set_random_seed(settings.seed)
            model, backbone = build_arm(arm, load_base_backbone(settings), len(data.label_names))
            compile_arm(model, arm, total_steps)
            fit_started = time.perf_counter()
            model.fit(train_ds, epochs=settings.epochs, verbose=2)
            train_seconds = time.perf_counter() - fit_started
            labels, logits = [], []
            for features, batch_labels in test_ds:
                logits.append(model.predict_on_batch(features))
                labels.append(np.asarray(batch_labels))
            metrics = classification_metrics(
                np.concatenate(labels), np.concatenate(logits), data.label_names
            )
            parameters = count_parameters(model)
            size, what = stored_bytes(arm, model, backbone, storage_dir)
            arms[arm] = {
                "label": ARM_LABELS[arm],
                "learning_rate": LEARNING_RATES[arm],
                "test_accuracy": metrics["accuracy"],
                "test_macro_f1": metrics["macro_f1"],
                "test_examples": metrics["num_examples"],
                "trainable_parameters": parameters.trainable,
                "total_parameters": parameters.total,
                "trainable_share": parameters.trainable_share,
                "train_wall_seconds": train_seconds,
                "stored_bytes": size,
                "stored_what": what,
            }
            log(f"   test accuracy {metrics['accuracy']:.4f}; {parameters}; stored {size:,} B")
            models[arm] = model

    full_bytes = arms["full"]["stored_bytes"]
    for record in arms.values():
        record["stored_share_of_full"] = record["stored_bytes"] / full_bytes

    log("== training-step time, arms interleaved")
    train_x, train_y = fixed_batch(data.train, preprocessor, settings.batch_size)
    steps = interleaved_medians(
        {arm: (lambda m=m: m.train_on_batch(train_x, train_y)) for arm, m in models.items()},
        rounds=settings.timing_rounds,
        calls_per_round=settings.timing_calls,
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
    del models
    keras.backend.clear_session()

    for arm, record in arms.items():
        record["train_step_median_s"] = steps[arm]["median_s"]
        record["train_step_speedup_vs_full"] = steps["full"]["median_s"] / steps[arm]["median_s"]
        # The full fine-tuning model is the unadapted graph (backbone + head).
        record["latency_batch_1_ms"] = 1000 * latency_1[arm]["median_s"]
        record["latency_batch_32_ms"] = 1000 * latency_32[arm]["median_s"]
        record["latency_batch_1_vs_unadapted"] = latency_1[arm]["median_s"] / latency_1["full"]["median_s"]
        record["latency_batch_32_vs_unadapted"] = latency_32[arm]["median_s"] / latency_32["full"]["median_s"]

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
            "seed": settings.seed,
            "lora_rank": LORA_RANK,
            "optimizer": "AdamW, weight decay 0.01, warm-up 10% then linear decay",
            "timing": (
                f"median of {settings.timing_rounds} interleaved rounds x "
                f"{settings.timing_calls} train_on_batch calls per arm; latency: "
                f"predict_on_batch, {settings.latency_calls_batch_1} (batch 1) and "
                f"{settings.latency_calls_batch_32} (batch 32) calls per round"
            ),
        },
        "arms": arms,
        "duration_seconds": time.time() - started,
    }
