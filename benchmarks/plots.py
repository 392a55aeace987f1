"""The report's plots: accuracy against time, parameters and latency (Pareto), and the scaling sweeps."""

import os

from benchmarks.arms import ARM_NAMES, measured_arms
from benchmarks.targets import seed_count

SCALING_PLOTS = {
    "scaling_sequence_train.png": "Training-step time against sequence length",
    "scaling_sequence_latency.png": "Inference latency against sequence length",
    "scaling_bottleneck_train.png": "Training-step time against bottleneck size",
    "scaling_bottleneck_latency.png": "Inference latency against bottleneck size",
}
PARETO_PLOTS = {
    "pareto_time.png": "Test accuracy against training wall time",
    "pareto_parameters.png": "Test accuracy against trainable parameters",
    "pareto_latency.png": "Test accuracy against inference latency",
}
PLOTS = {**PARETO_PLOTS, **SCALING_PLOTS}


def relative_training_time(compare, arm, steps):
    """An arm's training time for `steps` steps, in units of full fine-tuning's equal-epochs time.

    From the interleaved step timings: `(steps x the arm's step + the arm's
    once-only work) / (epochs x steps per epoch x full's step)`.

    Args:
        compare: the `compare.json` results.
        arm: the arm's name.
        steps: its training steps.

    Returns:
        A float (full fine-tuning's equal-epochs run is 1).
    """
    record, setup = compare["arms"][arm], compare["setup"]
    full_time = setup["epochs"] * setup["steps_per_epoch"] * compare["arms"]["full"]["train_step_median_s"]
    return (steps * record["train_step_median_s"] + record["once_seconds"]) / full_time


def write_plots(results, directory):
    """The Pareto plots and the four scaling plots, as PNG files in `directory`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_adapters.utils.atomic import atomic_file

    def save(fig, name):
        fig.tight_layout()
        with atomic_file(os.path.join(directory, name), "wb") as f:
            fig.savefig(f, format="png", dpi=100)
        plt.close(fig)

    _pareto_plots(results["compare"], save, plt)
    _latency_plot(results["compare"], save, plt)
    _scaling_plots(results["scaling"], save, plt, matplotlib)


def _pareto_plots(compare, save, plt):
    """Accuracy against training time and against trainable parameters, one colour per arm:
    filled at equal epochs (error bars: standard deviation over the seeds), hollow at equal time."""
    arms, setup = compare["arms"], compare["setup"]
    if "steps_per_epoch" not in setup:
        return  # results from before the equal-time runs: no training times to place
    equal_epoch_steps = setup["epochs"] * setup["steps_per_epoch"]
    colours = plt.get_cmap("tab10")
    for name, x_label in (
        ("pareto_time.png", f"training wall time, x full fine-tuning's {setup['epochs']} epoch(s) "
                            "(interleaved step timings)"),
        ("pareto_parameters.png", "trainable parameters"),
    ):
        fig, ax = plt.subplots(figsize=(7, 6))
        for arm in measured_arms(compare):
            index, record = ARM_NAMES.index(arm), arms[arm]
            if name == "pareto_time.png":
                x_epochs = relative_training_time(compare, arm, equal_epoch_steps)
                x_time = relative_training_time(compare, arm, max(record["equal_time_steps"], equal_epoch_steps))
            else:
                x_epochs = x_time = record["trainable_parameters"]
            colour = colours(index)
            # Hollow first: where both points coincide (full fine-tuning) the filled one shows.
            ax.errorbar(
                [x_time], [100 * record["equal_time_accuracy"]],
                yerr=[100 * (record["equal_time_accuracy_std"] or 0)], fmt="o", mfc="white",
                color=colour, capsize=3,
            )
            ax.errorbar(
                [x_epochs], [100 * record["test_accuracy"]],
                yerr=[100 * (record["test_accuracy_std"] or 0)], fmt="o", color=colour, capsize=3,
                label=f"{record['label']} ({seed_count(record)} seed{'s' if seed_count(record) > 1 else ''})",
            )
            if x_time != x_epochs:
                ax.plot([x_epochs, x_time], [100 * record["test_accuracy"], 100 * record["equal_time_accuracy"]],
                        ":", color=colour, linewidth=1)
        if name == "pareto_parameters.png":
            ax.set_xscale("log")
        else:
            ax.axvline(1.0, color="tab:gray", linewidth=0.8, linestyle="--")
        ax.set_xlabel(x_label)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(
            f"{PARETO_PLOTS[name]}: filled at {setup['epochs']} epoch(s), hollow at full "
            "fine-tuning's time", fontsize=9,
        )
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
        save(fig, name)


def _latency_plot(compare, save, plt):
    """Accuracy against inference latency at batch 32 (x the unadapted model), one colour per arm:
    filled as trained, a hollow square where LoRA and (IA)^3 serve merged into the projections."""
    arms, setup = compare["arms"], compare["setup"]
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(7, 6))
    for arm in measured_arms(compare):
        record, colour = arms[arm], colours(ARM_NAMES.index(arm))
        accuracy = 100 * record["test_accuracy"]
        x = record["latency_batch_32_vs_unadapted"]
        ax.errorbar(
            [x], [accuracy], yerr=[100 * (record.get("test_accuracy_std") or 0)], fmt="o", color=colour,
            capsize=3, label=f"{record['label']} ({seed_count(record)} seed{'s' if seed_count(record) > 1 else ''})",
        )
        merged = record.get("latency_batch_32_merged_vs_unadapted")
        if merged is not None:
            ax.plot([merged], [accuracy], "s", mfc="white", color=colour)
            ax.plot([x, merged], [accuracy, accuracy], ":", color=colour, linewidth=1)
    ax.axvline(1.0, color="tab:gray", linewidth=0.8, linestyle="--")
    ax.set_xlabel("inference latency at batch 32, x the unadapted model (interleaved timings)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(
        f"{PARETO_PLOTS['pareto_latency.png']}: at {setup['epochs']} epoch(s); hollow squares: "
        "merged for serving", fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    save(fig, "pareto_latency.png")


def _scaling_plots(scaling, save, plt, matplotlib):
    """The four scaling plots."""
    results = scaling["results"]

    def series(rows, jit, x_key, y_key):
        rows = [r for r in rows if r["jit_compile"] == jit]
        return [r[x_key] for r in rows], [1000 * r[y_key] for r in rows]

    for kind, x_key, x_label in (
        ("sequence", "sequence_length", "sequence length"),
        ("bottleneck", "bottleneck_size", "adapter bottleneck size"),
    ):
        rows = results["sequence_length" if kind == "sequence" else "bottleneck"]
        for metric, reference_key, adapter_key, reference_label, y_label in (
            ("train", "full_train_step_s", "adapter_train_step_s", "full fine-tuning", "training step (ms)"),
            ("latency", "unadapted_latency_s", "adapter_latency_s", "unadapted model", "inference latency (ms)"),
        ):
            fig, ax = plt.subplots(figsize=(6, 4))
            for jit, style in ((False, "-"), (True, "--")):
                suffix = " (jit_compile)" if jit else ""
                x, y = series(rows, jit, x_key, reference_key)
                ax.plot(x, y, style, marker="o", color="tab:gray", label=reference_label + suffix)
                x, y = series(rows, jit, x_key, adapter_key)
                ax.plot(x, y, style, marker="s", color="tab:blue", label="Houlsby adapters" + suffix)
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted({r[x_key] for r in rows}))
            ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
            ax.set_title(SCALING_PLOTS[f"scaling_{kind}_{metric}.png"], fontsize=10)
            ax.legend(fontsize=8)
            save(fig, f"scaling_{kind}_{metric}.png")
