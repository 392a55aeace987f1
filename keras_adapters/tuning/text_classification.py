"""A complete bottleneck search for text classification (`keras-adapters tune`).

`tune_text_classifier` loads the data, the pretrained backbone (once) and its
tokenizer as `keras-adapters train` does, runs a keras-tuner search with an
`AdapterHyperModel`, and writes:

    trials/          the keras-tuner project (oracle state; per trial a
                     trial.json and a task-weight checkpoint, no backbone)
    results.json     one record per trial + settings and sizes
    results.csv      the same records as a table
    results.png      validation metric against trainable parameters
    best/            the best trial as a `train` run directory (run.json,
                     adapter/, metrics.json): `predict`, `evaluate` and
                     `export` work on it
"""

from keras_adapters.errors import KerasAdaptersError

import dataclasses
import functools
import os
import time

import keras
import keras_tuner

from keras_adapters.pretrained import backbone_fingerprint, load_backbone, load_preprocessor
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training.schedules import WarmupLinearDecay
from keras_adapters.training import (
    TrainConfig,
    prepare_output_dir,
    tokenized,
    write_run_directory,
)
from keras_adapters.training.output_dir import OutputLayout
from keras_adapters.tuning.hypermodel import (
    DEFAULT_BOTTLENECK_SIZES,
    AdapterHyperModel,
    default_compile,
)
from keras_adapters.tuning.results import (
    RESULTS_CSV,
    RESULTS_JSON,
    RESULTS_PLOT,
    collect_trial_results,
    write_results,
)
from keras_adapters.utils.atomic import atomic_directory
from keras_adapters.utils.parameters import count_parameters

TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVES = ("val_accuracy", "val_loss")
TRIALS_DIR = "trials"
BEST_DIR = "best"
SEARCH_FORMAT = "keras-adapters/adapter-search"


def _is_search_record(record):
    """Whether a parsed `results.json` was written by `tune_text_classifier`."""
    if "format" in record:
        return record["format"] == SEARCH_FORMAT
    # Searches written before the format marker: the fields always stored.
    return (
        isinstance(record.get("settings"), dict)
        and isinstance(record.get("trials"), list)
        and "objective" in record
        and "backbone_fingerprint" in record
    )


# What `tune` writes in its output directory: replaced by `--overwrite` only
# if `results.json` says keras-adapters wrote it and nothing else is there.
SEARCH_LAYOUT = OutputLayout(
    kind="search",
    record_file=RESULTS_JSON,
    is_record=_is_search_record,
    entries=(RESULTS_JSON, RESULTS_CSV, RESULTS_PLOT, TRIALS_DIR, BEST_DIR),
)


def _holds_search(output_dir):
    """Whether `output_dir` holds an earlier search (anything at all)."""
    return os.path.isdir(output_dir) and bool(os.listdir(output_dir))


def _where_results_are(output_dir):
    """Where the per-trial results of a search that stopped early end up."""
    if _holds_search(output_dir):
        return (
            f"The earlier search in {output_dir} was left unchanged (this search's "
            "results were discarded)."
        )
    return f"Per-trial details are in {os.path.join(output_dir, RESULTS_JSON)}."


class TuningError(KerasAdaptersError):
    """A search that cannot run or produced no usable trial."""


@dataclasses.dataclass
class TuneConfig(TrainConfig):
    """Settings of a search (the `keras-adapters tune` options).

    Every `TrainConfig` field means what it means for `train` (data,
    backbone, sequence length, epochs per trial, schedule, ...), except
    `bottleneck_size`, which is replaced by the choices below; the best
    trial is written as the run `train` would have written with its values.

    Args:
        bottleneck_sizes: bottleneck sizes to choose from.
        learning_rates: peak learning rates to choose from; None: use
            `learning_rate` for every trial.
        adapter_presets: adapter presets to choose from (e.g.
            `("houlsby", "pfeiffer")`); None: use `adapter`.
        max_trials: trials for random and Bayesian search (Hyperband sizes
            its brackets from `epochs` as `max_epochs`, factor 3).
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        objective: `"val_accuracy"` (maximised) or `"val_loss"`.
        max_trainable_parameters: trials over this budget are not trained.
        verbose: Keras/keras-tuner verbosity during the search.

    Example:

    >>> config = TuneConfig(output_dir="runs/tune", bottleneck_sizes=(8, 64, 256), max_trials=3)
    >>> config.validate()
    >>> config.train_config({"bottleneck_size": 64}).bottleneck_size
    64
    >>> TuneConfig(tuner="grid").validate()
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: `tuner` must be one of random, bayesian, hyperband; got 'grid'.
    """

    output_dir: str = "runs/adapter-tune"
    bottleneck_sizes: tuple = DEFAULT_BOTTLENECK_SIZES
    learning_rates: tuple | None = None
    adapter_presets: tuple | None = None
    max_trials: int = 6
    tuner: str = "random"
    objective: str = "val_accuracy"
    max_trainable_parameters: int | None = None
    verbose: int = 1

    def validate(self):
        """Raises ValueError naming the first invalid setting."""
        super().validate()
        if self.bottleneck_size is not None:
            raise KerasAdaptersError("A search takes `bottleneck_sizes`, not `bottleneck_size`.")
        if self.tuner not in TUNERS:
            raise KerasAdaptersError(f"`tuner` must be one of {', '.join(TUNERS)}; got {self.tuner!r}.")
        if self.objective not in OBJECTIVES:
            raise KerasAdaptersError(
                f"`objective` must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}."
            )
        if isinstance(self.max_trials, bool) or not isinstance(self.max_trials, int) or self.max_trials < 1:
            raise KerasAdaptersError(f"`max_trials` must be a positive integer; got {self.max_trials!r}.")

    def train_config(self, values):
        """The `TrainConfig` of one trial's settings, writing to `best/`."""
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        data = {k: v for k, v in dataclasses.asdict(self).items() if k in fields}
        data.update(
            output_dir=os.path.join(self.output_dir, BEST_DIR),
            overwrite=True,
            bottleneck_size=values["bottleneck_size"],
            learning_rate=values.get("learning_rate", self.learning_rate),
            adapter=values.get("adapter", self.adapter),
        )
        return TrainConfig(**data)


def _make_tuner(kind, hypermodel, *, objective, max_trials, max_epochs, directory, project_name,
               seed=None, max_consecutive_failed_trials=3):
    """Builds a stock keras-tuner tuner of `kind` for `hypermodel`.

    Args:
        kind: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: trials for random and Bayesian search.
        max_epochs: Hyperband's `max_epochs` (factor 3).
        (the rest as keras-tuner's arguments; the project is overwritten.)
    """
    common = dict(
        objective=objective,
        seed=seed,
        directory=directory,
        project_name=project_name,
        overwrite=True,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
    )
    if kind == "random":
        return keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if kind == "bayesian":
        return keras_tuner.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    if kind == "hyperband":
        return keras_tuner.Hyperband(hypermodel, max_epochs=max_epochs, factor=3, **common)
    raise KerasAdaptersError(f"Unknown tuner {kind!r}. Allowed: {', '.join(TUNERS)}.")


def tune_text_classifier(config, log=print):
    """Runs a search over adapter settings and writes its results.

    Args:
        config: a `TuneConfig`.
        log: callable taking one message string.

    Returns:
        A dict: `rows` (list of `TrialResult`), `best` (the best row),
        `best_metrics` (the `metrics.json` of `best/`), `paths` (results
        files and `best` directory), `seconds`.

    Raises:
        ValueError: for invalid settings, data or presets (`DataError`,
            `PresetError`, `RunError`), or `TuningError` when no trial
            completed.
        KeyboardInterrupt: on Ctrl-C, after writing the results of the
            trials that finished (kept in `output_dir` only where they
            replace no earlier search: an earlier search is replaced only
            by a finished one).

    Example (two trials on the real MiniLM and a tiny CSV file):

    >>> import contextlib, io, os, tempfile
    >>> work = tempfile.mkdtemp()
    >>> with open(os.path.join(work, "reviews.csv"), "w") as f:
    ...     _ = f.write("text,label\\n")
    ...     for i in range(12):
    ...         _ = f.write(f"a great film number {i},good\\na dull mess number {i},bad\\n")
    >>> config = TuneConfig(output_dir=os.path.join(work, "search"),
    ...                     dataset="csv:" + os.path.join(work, "reviews.csv"),
    ...                     bottleneck_sizes=(2, 8), max_trials=2, epochs=1, batch_size=8,
    ...                     sequence_length=8, verbose=0)
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     result = tune_text_classifier(config, log=lambda message: None)
    >>> sorted(row.bottleneck_size for row in result["rows"])
    [2, 8]
    >>> sorted(os.listdir(os.path.join(config.output_dir, "best")))
    ['adapter', 'metrics.json', 'run.json']
    """
    started = time.perf_counter()
    config.validate()
    data = config.load_data()
    if data.validation is None:
        raise TuningError(f"Dataset {config.dataset!r} has no validation split to tune on.")
    output_dir = prepare_output_dir(config.output_dir, config.overwrite, SEARCH_LAYOUT)
    keras.utils.set_random_seed(config.seed)

    # Read once; every trial clones it (add_adapters never modifies it).
    backbone = load_backbone(config.preset)
    fingerprint = backbone_fingerprint(backbone)
    preprocessor = load_preprocessor(config.preset, config.sequence_length)
    num_classes = len(data.label_names)
    steps = -(-data.num_examples["train"] // config.batch_size) * config.epochs

    def schedule(peak):
        if config.schedule == "linear":
            return WarmupLinearDecay(peak, steps, int(config.warmup_fraction * steps))
        return peak

    hypermodel = AdapterHyperModel(
        backbone,
        lambda adapted, hp: PooledTextClassifier(
            adapted, num_classes, pooling=config.pooling, dropout=config.head_dropout
        ),
        bottleneck_sizes=config.bottleneck_sizes,
        adapter=config.adapter,
        adapter_presets=config.adapter_presets,
        learning_rates=config.learning_rates,
        learning_rate=config.learning_rate,
        learning_rate_schedule=schedule,
        compile_task=functools.partial(default_compile, weight_decay=config.weight_decay),
        max_trainable_parameters=config.max_trainable_parameters,
        seed=config.seed,
    )
    choices = len(config.bottleneck_sizes) * len(config.learning_rates or [0]) * len(
        config.adapter_presets or [0]
    )
    # Written under a temporary name and switched in when complete: an earlier
    # search in `output_dir` stays intact until then. A search that stops
    # early (Ctrl-C, no trial completed) keeps its per-trial results only
    # where it replaces nothing.
    def keep_unfinished(error):
        return os.path.isfile(os.path.join(search_dir, RESULTS_JSON)) and not _holds_search(output_dir)

    with atomic_directory(output_dir, overwrite=True, keep_unfinished=keep_unfinished) as search_dir:
        tuner = _make_tuner(
            config.tuner,
            hypermodel,
            objective=config.objective,
            max_trials=config.max_trials,
            max_epochs=config.epochs,
            directory=search_dir,
            project_name=TRIALS_DIR,
            seed=config.seed,
            # Over-budget choices fail by design; do not let them end the search.
            max_consecutive_failed_trials=max(3, choices + 1),
        )
        log(
            f"Search: {config.tuner}, objective {config.objective}, bottlenecks "
            f"{list(config.bottleneck_sizes)}, backbone {config.preset} ({type(backbone).__name__}); "
            f"data {data.name}: " + ", ".join(f"{k} {v:,}" for k, v in data.num_examples.items())
        )
        train_ds = tokenized(data.train, preprocessor, config.batch_size, shuffle_seed=config.seed)
        validation_ds = tokenized(data.validation, preprocessor, config.batch_size)

        search_started = time.perf_counter()
        summary = {
            "format": SEARCH_FORMAT,
            "format_version": 1,
            "settings": dataclasses.asdict(config),
            "backbone_fingerprint": fingerprint,
            "backbone_parameters": count_parameters(backbone).total,
        }
        try:
            tuner.search(train_ds, validation_data=validation_ds, epochs=config.epochs,
                         verbose=config.verbose)
        except KeyboardInterrupt:
            rows = collect_trial_results(tuner, hypermodel)
            write_results(rows, search_dir, config.objective, {**summary, "interrupted": True})
            raise
        except RuntimeError as e:
            # The oracle gives up after too many failed trials in a row.
            if "consecutive failures" not in str(e):
                raise
            rows = collect_trial_results(tuner, hypermodel)
            write_results(rows, search_dir, config.objective, summary)
            last = next((row.message for row in reversed(rows) if row.message), "no message")
            raise TuningError(
                f"The search stopped: {str(e).splitlines()[0]} The last failure was: {last}. "
                + _where_results_are(output_dir)
            ) from None
        search_seconds = time.perf_counter() - search_started

        rows = collect_trial_results(tuner, hypermodel)
        completed = [row for row in rows if row.status == "COMPLETED" and row.objective is not None]
        if not completed:
            messages = sorted({row.message for row in rows if row.message})
            write_results(rows, search_dir, config.objective, summary)
            raise TuningError(
                f"No trial of the search completed ({len(rows)} tried), so there is no best "
                "trial to write. "
                + (f"keras-tuner reported: {' | '.join(messages)}. " if messages else "")
                + "Loosen --max-trainable-params or choose smaller --bottlenecks."
            )

        best_trial = tuner.oracle.get_best_trials(1)[0]
        best = next(row for row in rows if row.trial_id == best_trial.trial_id)
        model = tuner.load_model(best_trial)  # what get_best_models() returns
        initial_epoch = int(best_trial.hyperparameters.values.get("tuner/initial_epoch", 0))
        best_epoch = initial_epoch + (best.best_epoch or 1)
        history = [
            {
                "epoch": best_epoch,
                **{name: float(best_trial.metrics.get_best_value(name))
                   for name in best_trial.metrics.metrics},
            }
        ]
        train_config = config.train_config(best.hyperparameters)
        best_metrics = write_run_directory(
            train_config,
            model,
            data,
            preprocessor,
            fingerprint,
            best_epoch=best_epoch,
            history=history,
            wall_time_seconds={"training": best.fit_seconds, "search": search_seconds},
            directory=os.path.join(search_dir, BEST_DIR),
            extra_info={
                "tuning": {
                    "search_dir": output_dir,
                    "trial_id": best.trial_id,
                    "hyperparameters": best.hyperparameters,
                    "tuner": config.tuner,
                    "objective": config.objective,
                }
            },
        )
        trial_bytes = [row.trial_dir_bytes for row in completed if row.trial_dir_bytes]
        summary.update(
            best_trial_id=best.trial_id,
            best_hyperparameters=best.hyperparameters,
            best_run_dir=train_config.output_dir,
            search_seconds=search_seconds,
            full_weights_bytes_float32=4 * best_metrics["parameters"]["total"],
            # Trained trials only: a rejected trial's directory holds only trial.json.
            mean_trial_dir_bytes=sum(trial_bytes) / len(trial_bytes) if trial_bytes else None,
        )
        paths = write_results(rows, search_dir, config.objective, summary)
        # Again before replacing: files may have appeared there meanwhile.
        prepare_output_dir(output_dir, config.overwrite, SEARCH_LAYOUT)
    paths = {key: os.path.join(output_dir, os.path.basename(path)) for key, path in paths.items()}
    paths["best"] = train_config.output_dir
    return {
        "rows": rows,
        "best": best,
        "best_metrics": best_metrics,
        "paths": paths,
        "summary": summary,
        "seconds": time.perf_counter() - started,
    }
