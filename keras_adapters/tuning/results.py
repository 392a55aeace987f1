"""Results of a tuning search: one row per trial, as JSON, CSV and a plot."""

import csv
import dataclasses
import io
import math
import os

from keras_adapters.tuning.checkpoints import find_checkpoints
from keras_adapters.tuning.hypermodel import FIT_SECONDS, TRAINABLE_PARAMETERS
from keras_adapters.utils.atomic import atomic_file, atomic_write_json
from keras_adapters.utils.sizes import directory_bytes

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
RESULTS_PLOT = "results.png"


@dataclasses.dataclass
class TrialResult:
    """One keras-tuner trial, summarised.

    Attributes:
        trial_id: keras-tuner's trial id.
        status: `"COMPLETED"`, `"FAILED"` (e.g. over the parameter budget)
            or `"INVALID"` (an error while building or training).
        hyperparameters: the trial's values, without keras-tuner's own
            `tuner/...` bookkeeping.
        trainable_parameters, total_parameters: of the trial's model (also
            for trials that failed before training), or None.
        objective: the best value of the objective over the trial's epochs.
        fit_seconds: wall time of `model.fit`.
        best_epoch: 1-based epoch of the best value (counting from the
            trial's first epoch; Hyperband continuations resume later).
        checkpoint_bytes: size of the trial's adapter checkpoint.
        trial_dir_bytes: size of everything in the trial's directory.
        message: for failed trials, the last line of keras-tuner's message.
        over_budget: for trials rejected for their size before training,
            the budget exceeded: `"max_trainable_parameters"` (the
            hypermodel's) or `"max_model_size"` (keras-tuner's); else None.
    """

    trial_id: str
    status: str
    hyperparameters: dict
    trainable_parameters: int | None = None
    total_parameters: int | None = None
    objective: float | None = None
    fit_seconds: float | None = None
    best_epoch: int | None = None
    checkpoint_bytes: int | None = None
    trial_dir_bytes: int | None = None
    message: str | None = None
    over_budget: str | None = None

    @property
    def bottleneck_size(self):
        return self.hyperparameters.get("bottleneck_size")

    @property
    def trainable_share(self):
        """Trainable parameters as a fraction of the total, or None."""
        if not self.trainable_parameters or not self.total_parameters:
            return None
        return self.trainable_parameters / self.total_parameters

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["trainable_share"] = self.trainable_share
        return data


_FAILED_TRIAL_PREFIX = "keras_tuner.src.errors.FailedTrialError: "


def is_over_budget(row):
    """True if the trial was rejected for its parameter count, untrained."""
    return row.over_budget is not None


def _user_values(values):
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


def _best(metrics, name):
    if not metrics.exists(name):
        return None
    value = metrics.get_best_value(name)
    return None if value is None or math.isnan(value) else float(value)


def collect_trial_results(tuner, hypermodel=None):
    """Summarises every trial of a finished (or interrupted) search.

    Args:
        tuner: a keras-tuner `Tuner` that ran an `AdapterHyperModel`.
        hypermodel: the `AdapterHyperModel` (default: `tuner.hypermodel`);
            supplies parameter counts of trials that did not train and which
            trials were over a parameter budget.

    Returns:
        A list of `TrialResult`, in trial order.
    """
    hypermodel = hypermodel or tuner.hypermodel
    counts = getattr(hypermodel, "parameter_counts", {})
    max_model_size = getattr(tuner, "max_model_size", None)
    objective = tuner.oracle.objective.name
    rows = []
    for trial in tuner.oracle.trials.values():
        values = _user_values(trial.hyperparameters.values)
        trainable, total = counts.get(hypermodel.values_key(values), (None, None)) if counts else (None, None)
        recorded = _best(trial.metrics, TRAINABLE_PARAMETERS)
        if recorded is not None:
            trainable = int(recorded)
        trial_dir = tuner.get_trial_dir(trial.trial_id)
        checkpoints = find_checkpoints(trial_dir)
        message = None
        if trial.message:
            # keras-tuner stores the traceback; its last line is the error.
            lines = [line for line in trial.message.strip().splitlines() if line.strip()]
            message = lines[-1].strip() if lines else None
            if message and message.startswith(_FAILED_TRIAL_PREFIX):
                message = message[len(_FAILED_TRIAL_PREFIX):]
        status = str(trial.status)
        best_step = trial.best_step if status == "COMPLETED" else None
        over_budget = None
        if status == "FAILED" and hasattr(hypermodel, "budget_exceeded"):
            over_budget = hypermodel.budget_exceeded(values, max_model_size)
        rows.append(
            TrialResult(
                trial_id=trial.trial_id,
                status=status,
                hyperparameters=values,
                trainable_parameters=trainable,
                total_parameters=total,
                objective=_best(trial.metrics, objective),
                fit_seconds=_best(trial.metrics, FIT_SECONDS),
                best_epoch=None if best_step is None else int(best_step) + 1,
                checkpoint_bytes=(
                    sum(directory_bytes(path) for path in checkpoints) if checkpoints else None
                ),
                trial_dir_bytes=directory_bytes(trial_dir) if os.path.isdir(trial_dir) else None,
                message=message,
                over_budget=over_budget,
            )
        )
    return rows


def _csv_text(rows, hyperparameter_names):
    buffer = io.StringIO()
    columns = (
        ["trial_id", "status"]
        + hyperparameter_names
        + [
            "trainable_parameters",
            "total_parameters",
            "trainable_share",
            "objective",
            "fit_seconds",
            "best_epoch",
            "checkpoint_bytes",
            "trial_dir_bytes",
            "message",
        ]
    )
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = row.to_dict()
        record.update(record.pop("hyperparameters"))
        writer.writerow({column: record.get(column) for column in columns})
    return buffer.getvalue()


def _trial_label(result):
    """`b=64`, `lora r=8` or `ia3`: what sets a trial's size, for the plot."""
    values = result.hyperparameters
    adapter = values.get("adapter")
    if result.bottleneck_size is not None:
        return f"{adapter} b={result.bottleneck_size}" if adapter else f"b={result.bottleneck_size}"
    if values.get("rank") is not None:
        return f"{adapter or 'lora'} r={values['rank']}"
    return adapter or "default"


def plot_results(rows, path, objective):
    """Plots the objective against trainable parameters (log x axis) as PNG.

    Completed trials are points labelled with their bottleneck size; failed
    trials with a known size are marked on the x axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    done = [r for r in rows if r.objective is not None and r.trainable_parameters]
    if done:
        ax.scatter([r.trainable_parameters for r in done], [r.objective for r in done],
                   color="tab:blue", zorder=3, label="completed trials")
        for r in done:
            ax.annotate(_trial_label(r), (r.trainable_parameters, r.objective),
                        textcoords="offset points", xytext=(5, 5), fontsize=8)
    failed = [r for r in rows if r.objective is None and r.trainable_parameters]
    if failed:
        bottom = min((r.objective for r in done), default=0.0)
        ax.scatter([r.trainable_parameters for r in failed], [bottom] * len(failed), marker="x",
                   color="tab:red", zorder=3, label="not trained (failed / over budget)")
    if done or failed:
        ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel(objective)
    ax.set_title(f"{objective} against trainable parameters")
    ax.grid(True, which="both", alpha=0.3)
    if done or failed:
        ax.legend()
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


def write_results(rows, directory, objective, summary=None):
    """Writes `results.json`, `results.csv` and `results.png` to `directory`.

    Args:
        rows: list of `TrialResult`.
        directory: where to write.
        objective: the objective's name (axis label, JSON field).
        summary: optional extra JSON-serializable dict stored in
            `results.json` (settings, best trial, sizes).

    Returns:
        Dict of `"json"`, `"csv"`, `"png"` to the paths written.
    """
    names = []
    for row in rows:
        names += [name for name in row.hyperparameters if name not in names]
    paths = {
        "json": os.path.join(directory, RESULTS_JSON),
        "csv": os.path.join(directory, RESULTS_CSV),
        "png": os.path.join(directory, RESULTS_PLOT),
    }
    document = {"objective": objective, **(summary or {}), "trials": [r.to_dict() for r in rows]}
    atomic_write_json(paths["json"], document, default=float)
    with atomic_file(paths["csv"], "w", encoding="utf-8", newline="") as f:
        f.write(_csv_text(rows, names))
    plot_results(rows, paths["png"], objective)
    return paths
