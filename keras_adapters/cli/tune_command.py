"""`keras-adapters tune`: a keras-tuner search over adapter settings.

The search's modules (keras-tuner, Keras, TensorFlow) are imported when the
command runs, so `--help` and option errors answer without them.
"""

import click
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from keras_adapters.cli.config_options import build_config, config_options
from keras_adapters.cli.console import console, guarded, print_metrics_table, print_try_it
from keras_adapters.tuning.config import TuneConfig


@click.command()
@config_options(TuneConfig)
@guarded
def tune(**options):
    """Search adapter settings (bottleneck size, ...) with keras-tuner.

    Loads the backbone once and runs a keras-tuner search; each trial trains
    adapters on a fresh copy of the pretrained backbone and checkpoints only
    its adapter and head weights. Prints a results table and writes it as
    results.json, results.csv and results.png (validation metric against
    trainable parameters) to --output-dir, with the best trial written as a
    `train` run directory in OUTPUT_DIR/best (predict, evaluate and export
    work on it).

    Distributed search (keras-tuner's): run this same command in several
    processes with KERASTUNER_TUNER_ID (chief for one, a unique id such as
    tuner0, tuner1 for each worker), KERASTUNER_ORACLE_IP and
    KERASTUNER_ORACLE_PORT (the chief's address) set; workers train trials,
    the chief writes --output-dir (docs: Training on many devices).
    """
    from keras_adapters.tuning.text_classification import tune_text_classifier

    config = build_config(TuneConfig, options)
    result = tune_text_classifier(config, log=console.print)
    if "role" in result:  # a worker of a distributed search
        trained = ", ".join(result["trials"]) or "none"
        console.print(f"Worker {result['role'].tuner_id} trained trials: {trained}. "
                      "The chief writes the results.")
        return
    _print_tuning_table(result, config)
    best = result["best_metrics"]
    print_metrics_table(
        {split: best[split] for split in ("validation", "test") if split in best},
        title=f"Best trial {result['best'].trial_id}: "
              + ", ".join(f"{k}={v}" for k, v in result["best"].hyperparameters.items()),
    )
    summary, paths = result["summary"], result["paths"]
    if summary.get("mean_trial_dir_bytes"):
        full = summary["full_weights_bytes_float32"]
        console.print(
            f"Disk per trained trial: {decimal(summary['mean_trial_dir_bytes'], precision=2)} on "
            f"average (adapter + head checkpoint, no backbone), vs {decimal(full, precision=2)} "
            f"for the model's full float32 weights "
            f"({100 * summary['mean_trial_dir_bytes'] / full:.1f}%)."
        )
    console.print(Text.assemble(
        "Results: ", (str(paths["json"]), "bold"),
        f", {paths['csv']}, {paths['png']} ({result['seconds']:.0f} s).",
    ))
    console.print(Text.assemble("Best trial written as a run to ", (str(paths["best"]), "bold"), "."))
    print_try_it(str(paths["best"]))


def _print_tuning_table(result, config):
    from keras_adapters.tuning.results import is_over_budget

    rows = result["rows"]
    tuned = [name for name in ("learning_rate", "adapter", "layers")
             if any(name in r.hyperparameters for r in rows)]
    table = Table(title=f"{config.tuner} search, {len(rows)} trials, objective {config.objective}")
    table.add_column("trial", no_wrap=True)
    table.add_column("bottleneck", justify="right")
    for name in tuned:
        table.add_column(name.replace("_", " "), justify="right")
    for column in ("trainable", "share", config.objective, "fit time"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    best_id = result["best"].trial_id
    notes = []
    for row in rows:
        value = "" if row.objective is None else (
            f"{100 * row.objective:.2f}%" if config.objective.endswith("accuracy") else f"{row.objective:.4f}")
        if row.status == "COMPLETED":
            status = "done"
        elif is_over_budget(row):
            status = "over budget"
        else:
            status = row.status.lower()
            notes.append(f"trial {row.trial_id}: {row.message}")
        table.add_row(
            row.trial_id + (" *" if row.trial_id == best_id else ""),
            str(row.bottleneck_size),
            *[str(row.hyperparameters.get(name, "")) for name in tuned],
            "" if row.trainable_parameters is None else f"{row.trainable_parameters:,}",
            "" if row.trainable_share is None else f"{100 * row.trainable_share:.2f}%",
            value,
            "" if row.fit_seconds is None else f"{row.fit_seconds:.1f} s",
            status,
        )
    console.print(table)
    legend = "* best trial."
    if any(is_over_budget(row) for row in rows):
        legend += " Over budget: more trainable parameters than --max-trainable-params; not trained."
    console.print(legend)
    for note in notes:
        console.print(f"  {note}", soft_wrap=True)
