"""Scaling out: what data-parallel training all-reduces per step, adapters vs full fine-tuning.

Data-parallel training (`keras-adapters train --distribute mirrored`, JAX's
`DataParallel`) sums every trainable variable's gradient across replicas
once per step, so the traffic per step is 4 bytes (float32) x the trainable
parameters. `sizing_rows` computes it from parameter counts of KerasHub
backbones built from their published configs (random weights, nothing
downloaded) with keras-adapters' adapters inserted; tests/test_distributed.py
measures the all-reduced bytes on a tiny model and finds exactly this.

    python -m benchmarks.scaling_out --sizing   # the table of docs/howto/many-devices.md
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: Published configurations (keras-hub presets bert_base_en_uncased and
#: gpt2_medium_en), built with random weights.
SIZING_MODELS = {
    "BERT-base": ("BertBackbone", dict(
        vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
        intermediate_dim=3072, max_sequence_length=512)),
    "GPT-2 medium": ("GPT2Backbone", dict(
        vocabulary_size=50257, num_layers=24, num_heads=16, hidden_dim=1024,
        intermediate_dim=4096, max_sequence_length=1024)),
}
#: Adapter settings of the table: the `train` default (Houlsby, bottleneck
#: 64, layer norms trained) and LoRA (rank 8 on query and value).
SIZING_ADAPTERS = {"houlsby (bottleneck 64)": ("houlsby", {"bottleneck_size": 64}),
                   "lora (rank 8)": ("lora", {})}
#: A two-class head, as a sentiment task.
NUM_CLASSES = 2


def sizing_rows():
    """Gradient bytes all-reduced per step for full fine-tuning and adapters.

    Returns:
        A list of dicts: `model`, `method`, `trainable` and `total`
        parameters, `all_reduce_bytes` (4 x trainable) and `ratio` (full
        fine-tuning's bytes / this method's).
    """
    import keras
    import keras_hub

    from keras_adapters import add_adapters, count_parameters
    from keras_adapters.tasks import PooledTextClassifier

    rows = []
    for model_name, (class_name, config) in SIZING_MODELS.items():
        backbone = getattr(keras_hub.models, class_name)(**config)
        full = PooledTextClassifier(backbone, NUM_CLASSES)
        full_count = count_parameters(full)
        rows.append({"model": model_name, "method": "full fine-tuning",
                     "trainable": full_count.total, "total": full_count.total})
        for method, (preset, overrides) in SIZING_ADAPTERS.items():
            counts = count_parameters(
                PooledTextClassifier(add_adapters(backbone, preset, **overrides), NUM_CLASSES)
            )
            rows.append({"model": model_name, "method": method,
                         "trainable": counts.trainable, "total": counts.total})
        del backbone, full
        keras.backend.clear_session()
    for row in rows:
        full = next(r for r in rows if r["model"] == row["model"] and r["method"] == "full fine-tuning")
        row["all_reduce_bytes"] = 4 * row["trainable"]
        row["ratio"] = full["trainable"] / row["trainable"]
    return rows


def sizing_markdown(rows):
    """The sizing table as Markdown."""
    lines = [
        "| model | what trains | trainable parameters | share | all-reduce per step (float32) | vs full |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['method']} | {row['trainable']:,} | "
            f"{100 * row['trainable'] / row['total']:.2f}% | {row['all_reduce_bytes'] / 1e6:,.2f} MB | "
            f"{row['ratio']:.0f}x smaller |".replace("| 1x smaller |", "| 1x |")
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--sizing"]:
        sys.exit("usage: python -m benchmarks.scaling_out --sizing")
    print(sizing_markdown(sizing_rows()))
