"""Scaling: step time and latency against sequence length and bottleneck size.

For `jit_compile` off and on, on the benchmark backbone with a two-class
head and random token batches (speed does not depend on the data):

- against sequence length: full fine-tuning vs Houlsby adapters at the
  reference bottleneck (training step), the unadapted model vs the same
  adapters (inference at the scaling batch size);
- against bottleneck size: Houlsby adapters of each size at the middle
  sequence length, with full fine-tuning and the unadapted model as the
  reference.

Within each point the models are timed in interleaved rounds. With
`jit_compile=True` every new input shape compiles once, in the untimed
warm-up call.
"""

import time

import keras
import numpy as np

from benchmarks.arms import build_arm, compile_arm, load_base_backbone
from benchmarks.measure import interleaved_medians, machine_description

RESULT_FILE = "scaling.json"


def _batch(batch_size, sequence_length, seed):
    rng = np.random.default_rng(seed)
    features = {
        "token_ids": rng.integers(1000, 30000, (batch_size, sequence_length)).astype("int32"),
        "segment_ids": np.zeros((batch_size, sequence_length), "int32"),
        "padding_mask": np.ones((batch_size, sequence_length), "int32"),
    }
    return features, rng.integers(0, 2, (batch_size,)).astype("int32")


def _models(settings, jit_compile):
    """Full fine-tuning model (also the unadapted graph) and one adapter model per bottleneck."""
    models = {}
    keras.utils.set_random_seed(settings.seed)
    models["full"], _ = build_arm("full", load_base_backbone(settings, settings.scaling_num_layers), 2)
    for size in settings.scaling_bottlenecks:
        models[f"houlsby_{size}"], _ = build_arm(
            "houlsby", load_base_backbone(settings, settings.scaling_num_layers), 2, bottleneck_size=size
        )
    for name, model in models.items():
        compile_arm(model, "full" if name == "full" else "houlsby", 1000, jit_compile=jit_compile)
    return models


def _point(models, names, x, y, settings):
    train = interleaved_medians(
        {n: (lambda m=models[n]: m.train_on_batch(x, y)) for n in names},
        rounds=settings.scaling_rounds,
        calls_per_round=settings.scaling_calls,
    )
    infer = interleaved_medians(
        {n: (lambda m=models[n]: m.predict_on_batch(x)) for n in names},
        rounds=settings.scaling_rounds,
        calls_per_round=settings.scaling_calls,
    )
    return {n: {"train_step_s": train[n]["median_s"], "latency_s": infer[n]["median_s"]} for n in names}


def run_scaling(settings, log=print):
    """Measures both sweeps with jit off and on; returns the results dict."""
    started = time.time()
    reference = f"houlsby_{settings.scaling_reference_bottleneck}"
    middle = settings.scaling_sequence_lengths[len(settings.scaling_sequence_lengths) // 2]
    results = {"sequence_length": [], "bottleneck": []}
    for jit_compile in (False, True):
        models = _models(settings, jit_compile)
        for length in settings.scaling_sequence_lengths:
            log(f"== jit_compile={jit_compile}, sequence length {length}")
            x, y = _batch(settings.scaling_batch_size, length, settings.seed)
            point = _point(models, ["full", reference], x, y, settings)
            results["sequence_length"].append({
                "jit_compile": jit_compile,
                "sequence_length": length,
                "full_train_step_s": point["full"]["train_step_s"],
                "adapter_train_step_s": point[reference]["train_step_s"],
                "unadapted_latency_s": point["full"]["latency_s"],
                "adapter_latency_s": point[reference]["latency_s"],
            })
        log(f"== jit_compile={jit_compile}, bottleneck sweep at sequence length {middle}")
        x, y = _batch(settings.scaling_batch_size, middle, settings.seed)
        names = ["full"] + [f"houlsby_{size}" for size in settings.scaling_bottlenecks]
        point = _point(models, names, x, y, settings)
        for size in settings.scaling_bottlenecks:
            results["bottleneck"].append({
                "jit_compile": jit_compile,
                "bottleneck_size": size,
                "sequence_length": middle,
                "adapter_train_step_s": point[f"houlsby_{size}"]["train_step_s"],
                "adapter_latency_s": point[f"houlsby_{size}"]["latency_s"],
                "full_train_step_s": point["full"]["train_step_s"],
                "unadapted_latency_s": point["full"]["latency_s"],
            })
        del models
        keras.backend.clear_session()
    return {
        "kind": "keras-adapters/benchmark-scaling",
        "quick": settings.quick,
        "machine": machine_description(),
        "setup": {
            "backbone": settings.scaling_backbone_description,
            "batch_size": settings.scaling_batch_size,
            "adapter": f"houlsby (layer norms trained); reference bottleneck {settings.scaling_reference_bottleneck}",
            "timing": (
                f"median of {settings.scaling_rounds} interleaved rounds x "
                f"{settings.scaling_calls} calls (train_on_batch / predict_on_batch) per model, "
                "after one untimed warm-up call per shape"
            ),
        },
        "results": results,
        "duration_seconds": time.time() - started,
    }
