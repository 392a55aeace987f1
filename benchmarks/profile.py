"""Inference-overhead profile: where an adapter's latency comes from.

The comparison measures every arm a few rounds each; this part
takes more samples of inference alone, on untrained models of the same
shapes (speed does not depend on the weights), to split the adapters'
overhead by what they are made of: activation, bottleneck width, one or
two adapters per block. Two separate copies of the unadapted model give
the noise floor: they run the same graph, so any difference between them
is the machine, not the model. LoRA and (IA)^3 are profiled unmerged and
merged into the projections (`merge_adapter`, before the first call), the
way they are served. The quick run profiles the two unadapted copies, the
top-half adapters and LoRA unmerged and merged only.
"""

import time

import keras

from benchmarks.arms import load_base_backbone, top_half
from benchmarks.inputs import fixed_batch, load_data
from benchmarks.measure import interleaved_medians, machine_description
from keras_adapters import add_adapters
from keras_adapters.tasks import PooledTextClassifier

RESULT_FILE = "profile.json"

TOP_HALF_VARIANT = "houlsby b=64, top half of the blocks"

#: Model name -> `add_adapters` arguments (None: no adapters; a callable
#: `layers` is given the backbone).
VARIANTS = {
    "unadapted": None,
    "unadapted (second copy)": None,
    "houlsby b=64 (gelu, both branches)": dict(config="houlsby"),
    "houlsby b=64, relu": dict(config="houlsby", activation="relu"),
    "houlsby b=8": dict(config="houlsby", bottleneck_size=8),
    "houlsby b=64, feed-forward branch only": dict(config="houlsby", placements=("feedforward",)),
    "pfeiffer (b=d/16, feed-forward only)": dict(config="pfeiffer"),
    TOP_HALF_VARIANT: dict(config="houlsby", layers=top_half),
    "lora r=8 (query, value)": dict(config="lora"),
    "lora r=8, merged": dict(config="lora", merge=True),
    "ia3 (keys, values, feed-forward)": dict(config="ia3"),
    "ia3, merged": dict(config="ia3", merge=True),
    "parallel s=4, b=d/2 (feed-forward)": dict(config="parallel"),
}

QUICK_VARIANTS = (
    "unadapted", "unadapted (second copy)", TOP_HALF_VARIANT, "lora r=8 (query, value)", "lora r=8, merged",
)

#: The profiled variant that serves like each adapter arm (the cache only
#: changes training).
VARIANT_OF_ARM = {
    "houlsby": "houlsby b=64 (gelu, both branches)",
    "pfeiffer": "pfeiffer (b=d/16, feed-forward only)",
    "houlsby_top": TOP_HALF_VARIANT,
    "houlsby_top_cached": TOP_HALF_VARIANT,
    "lora_ka": "lora r=8 (query, value)",
    "ia3": "ia3 (keys, values, feed-forward)",
    "parallel": "parallel s=4, b=d/2 (feed-forward)",
}

#: The profiled merged variant of each mergeable arm.
MERGED_VARIANT_OF_ARM = {"lora_ka": "lora r=8, merged", "ia3": "ia3, merged"}


def noise_floor(profile, batch="batch_32"):
    """How far apart two copies of the same unadapted model measured (a ratio - 1, >= 0)."""
    return abs(profile["results"][batch]["unadapted (second copy)"]["vs_unadapted"] - 1)


def run_profile(settings, log=print):
    """Measures inference latency of each variant; returns the results dict."""
    started = time.time()
    keras.utils.set_random_seed(settings.seed)
    _, preprocessor, test = load_data(settings)
    batch_32, _ = fixed_batch(test, preprocessor, 32)
    batch_1 = {k: v[:1] for k, v in batch_32.items()}
    models = {}
    for name in QUICK_VARIANTS if settings.quick else VARIANTS:
        arguments = VARIANTS[name]
        backbone = load_base_backbone(settings)
        if arguments is not None:
            arguments = dict(arguments)
            merge = arguments.pop("merge", False)
            if callable(arguments.get("layers")):
                arguments["layers"] = arguments["layers"](backbone)
            backbone = add_adapters(backbone, **arguments)
            if merge:
                backbone.merge_adapter("default")
        models[name] = PooledTextClassifier(backbone, 2)
    rounds = 1 if settings.quick else 10
    results = {}
    calls = {"batch_1": 2 if settings.quick else 20, "batch_32": 2 if settings.quick else 4}
    for label, batch in (("batch_1", batch_1), ("batch_32", batch_32)):
        log(f"== inference latency, {label}, {len(models)} models interleaved")
        timings = interleaved_medians(
            {name: (lambda m=m, b=batch: m.predict_on_batch(b)) for name, m in models.items()},
            rounds=rounds,
            calls_per_round=calls[label],
        )
        base = timings["unadapted"]["median_s"]
        results[label] = {
            name: {"median_ms": 1000 * t["median_s"], "vs_unadapted": t["median_s"] / base, "samples": t["samples"]}
            for name, t in timings.items()
        }
    return {
        "kind": "keras-adapters/benchmark-profile",
        "quick": settings.quick,
        "machine": machine_description(),
        "setup": {
            "backbone": settings.backbone_description,
            "sequence_length": settings.sequence_length,
            "timing": f"predict_on_batch, median of {rounds} interleaved rounds per model",
        },
        "results": results,
        "duration_seconds": time.time() - started,
    }
