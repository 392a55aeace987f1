"""The measured table of the "Choosing a method" page (docs/howto/choosing-a-method.md).

One row per method the comparison trains, from `compare.json` and
`profile.json`: the preset, trainable parameters, test accuracy at equal
epochs and in full fine-tuning's training time, training speed, and the
inference latency as served (LoRA and (IA)^3 merged). Generated into the
page by `python -m benchmarks report --update-docs`, like the README's block.
"""

from benchmarks.arms import ARM_LABELS, METHOD_PRESETS
from benchmarks.method_targets import served_latency
from benchmarks.profile import noise_floor
from benchmarks.targets import NOT_MEASURED, accuracy_text, percent, seed_count

#: The rows, in order: the references, then each method's preset.
METHOD_ROWS = {
    "full": "(every weight)",
    "lora": "KerasHub `enable_lora(8)`",
    "houlsby": "`houlsby`",
    "pfeiffer": "`pfeiffer`",
    "parallel": "`parallel`",
    "lora_ka": f"`{METHOD_PRESETS['lora_ka']}`",
    "ia3": f"`{METHOD_PRESETS['ia3']}`",
}


def _latency_cell(compare, profile, arm):
    """Inference latency at batch 32 over the unadapted model's, as served, and where measured."""
    if arm in ("full", "lora"):  # the unadapted graph; KerasHub's LoRA has no merge
        return f"{compare['arms'][arm]['latency_batch_32_vs_unadapted']:.2f}x (comparison)"
    ratio, where = served_latency(compare, profile, arm)
    return f"{ratio:.2f}x ({where})"


def methods_markdown(results):
    """The page's generated block (markdown) from the results `benchmarks.report.load_results` reads."""
    compare, profile = results["compare"], results["profile"]
    arms, setup = compare["arms"], compare["setup"]
    full = arms["full"]
    lines = [
        f"Measured by `make bench` on {compare['machine']['cpu']} ({compare['machine']['cpu_cores']} cores): "
        f"{setup['backbone']} on {setup['dataset']}, {setup['epochs']} epoch(s) at batch "
        f"{setup['batch_size']}, each method with its preset and one recipe (AdamW, warm-up then linear "
        "decay; the peak learning rate in the table). Equal time: the training time full fine-tuning "
        "needs for its epochs, faster methods running more steps. Latency: inference at batch 32 as "
        f"served, over the unadapted model (noise floor {percent(noise_floor(profile), 1)}). "
        "All arms and columns: [Benchmarks](../benchmarks.md).",
        "",
        "| method | preset | peak LR | trainable parameters | test accuracy, equal epochs | "
        "test accuracy, equal time (epochs) | train step speed-up | latency, batch 32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, preset in METHOD_ROWS.items():
        if arm not in arms:
            lines.append(f"| {ARM_LABELS[arm]} | {preset} | | | {NOT_MEASURED} | | | |")
            continue
        record = arms[arm]
        seeds = seed_count(record)
        lines.append(
            f"| {ARM_LABELS[arm]} | {preset} | {record['learning_rate']:g} | "
            f"{record['trainable_parameters']:,} | {accuracy_text(record)}"
            f"{'' if seeds > 1 else ' (1 seed)'} | "
            f"{accuracy_text(record, 'equal_time_accuracy')} ({record['equal_time_epochs']:.1f}) | "
            f"{record['train_step_speedup_vs_full']:.2f}x | {_latency_cell(compare, profile, arm)} |"
        )
    lines += [
        "",
        f"Full fine-tuning: {accuracy_text(full)} over {seed_count(full)} seed(s) (mean ± standard "
        "deviation). A method marked (1 seed) was trained once: weigh its difference from another "
        "against that seed-to-seed spread.",
    ]
    return "\n".join(lines) + "\n"
