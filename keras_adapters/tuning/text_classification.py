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

import dataclasses
import functools
import os
import shutil
import time

import keras

from keras_adapters.adapter_kinds import uses_bottleneck
from keras_adapters.config import AdapterConfig
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.pretrained import (
    backbone_fingerprint,
    load_backbone,
    load_preprocessor,
)
from keras_adapters.surgery import add_adapters
from keras_adapters.surgery.layer_count import lowest_trainable_block
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training import (
    prepare_output_dir,
    tokenized,
    write_run_directory,
)
from keras_adapters.training.compilation import resolve_jit_compile
from keras_adapters.training.prefix_store import RUN_CACHE_DIR
from keras_adapters.training.schedules import WarmupLinearDecay

# TuneConfig is re-exported: `keras_adapters.tuning.text_classification.TuneConfig` is public.
from keras_adapters.tuning.config import BEST_DIR, TUNERS, TuneConfig  # noqa: F401
from keras_adapters.tuning.distributed import search_role, shared_search_dir
from keras_adapters.tuning.hypermodel import (
    AdapterHyperModel,
    default_compile,
)
from keras_adapters.tuning.results import (
    RESULTS_JSON,
    collect_trial_results,
    write_results,
)
from keras_adapters.tuning.search_directory import (
    SEARCH_FORMAT,
    SEARCH_LAYOUT,
    TRIALS_DIR,
    holds_search,
    where_results_are,
)
from keras_adapters.tuning.tuners import make_tuner, search_as_worker
from keras_adapters.utils.atomic import atomic_directory
from keras_adapters.utils.parameters import count_parameters


class TuningError(KerasAdaptersError):
    """A search that cannot run or produced no usable trial."""


def _check_frozen_prefix(backbone, train, config):
    """Refuses `--cache-frozen-prefix` before the search when a trial would have no frozen prefix.

    Raises:
        TuningError: when an adapter setting searched trains block 0 or the
            embeddings (nothing below its adapters is frozen).
    """
    for adapter in config.adapter_presets or [train.adapter]:
        # Only bottleneck kinds take a bottleneck size (LoRA and (IA)^3 refuse one).
        kind = AdapterConfig.get(adapter).kind
        bottleneck = min(config.bottleneck_sizes) if uses_bottleneck(kind) else None
        settings = dataclasses.replace(train, adapter=adapter, bottleneck_size=bottleneck)
        block = lowest_trainable_block(add_adapters(backbone, settings.adapter_config()))
        if not block:
            raise TuningError(
                f"--cache-frozen-prefix needs frozen lower blocks, but adapter {adapter!r} with "
                f"layers {train.layers or 'all'} trains block 0 or the embeddings: nothing to "
                "cache. Pass --layers top:K (adapters in the top K blocks only)."
            )


def tune_text_classifier(config, log=print):
    """Runs a search over adapter settings and writes its results.

    Args:
        config: a `TuneConfig`.
        log: callable taking one message string.

    Returns:
        A dict: `rows` (list of `TrialResult`), `best` (the best row),
        `best_metrics` (the `metrics.json` of `best/`), `paths` (results
        files and `best` directory), `seconds`. A worker of a distributed
        search (`keras_adapters.tuning.distributed`: keras-tuner's
        `KERASTUNER_*` environment variables) writes no search directory
        and returns `{"role": SearchRole, "trials": [trial ids it trained]}`.

    Raises:
        ValueError: for invalid settings, data or presets (`DataError`,
            `PresetError`, `RunError`), or `TuningError` when no trial
            completed.
        KeyboardInterrupt: on Ctrl-C, after writing the results of the
            trials that finished (kept in `output_dir` only where they
            replace no earlier search: an earlier search is replaced only
            by a finished one).

    Example (a tiny random BERT preset and a tiny CSV file; the default
    preset is the real MiniLM). Of the two bottleneck sizes, 8 is over the
    parameter budget, so only one trial trains:

    >>> import contextlib, io, os, tempfile
    >>> import keras_hub
    >>> from keras_adapters.training import TrainConfig
    >>> from keras_adapters.tuning.text_classification import TuneConfig, tune_text_classifier
    >>> work = tempfile.mkdtemp()
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "great", "dull", "film", "mess"]
    >>> preset = os.path.join(work, "tiny_bert")
    >>> keras_hub.models.BertBackbone(
    ...     vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16).save_to_preset(preset)
    >>> keras_hub.models.BertTokenizer(vocabulary=vocabulary).save_to_preset(preset)
    >>> with open(os.path.join(work, "reviews.csv"), "w") as f:
    ...     _ = f.write("text,label\\n")
    ...     for i in range(12):
    ...         _ = f.write(f"a great film number {i},good\\na dull mess number {i},bad\\n")
    >>> trials = TrainConfig(preset=preset, dataset="csv:" + os.path.join(work, "reviews.csv"),
    ...                      adapter="houlsby", epochs=1, batch_size=8, sequence_length=8)
    >>> config = TuneConfig(output_dir=os.path.join(work, "search"), train=trials,
    ...                     bottleneck_sizes=(2, 8), max_trainable_parameters=1000,
    ...                     max_trials=2, verbose=0)
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     result = tune_text_classifier(config, log=lambda message: None)
    >>> sorted((row.bottleneck_size, row.status, row.over_budget) for row in result["rows"])
    [(2, 'COMPLETED', None), (8, 'FAILED', 'max_trainable_parameters')]
    >>> sorted(os.listdir(os.path.join(config.output_dir, "best")))
    ['adapter', 'metrics.json', 'run.json']
    """
    started = time.perf_counter()
    config.validate()
    role = search_role()  # keras-tuner's KERASTUNER_* variables
    if config.train.distribute != "none":
        raise TuningError(
            f"A search trains each trial on one device; `distribute={config.train.distribute!r}` "
            "is for `train`. Scale a search out with workers instead (KERASTUNER_* variables, "
            "docs: Training on many devices)."
        )
    train = config.train  # what every trial trains with
    data = train.load_data()
    if data.validation is None:
        raise TuningError(f"Dataset {train.dataset!r} has no validation split to tune on.")
    # Only the chief (or the one process) writes the search directory.
    if role.kind != "worker":
        output_dir = prepare_output_dir(config.output_dir, config.overwrite, SEARCH_LAYOUT)
    keras.utils.set_random_seed(train.seed)

    # Read once; every trial clones it (add_adapters never modifies it).
    backbone = load_backbone(train.preset)
    preprocessor = load_preprocessor(train.preset, train.sequence_length)
    hypermodel = _hypermodel(config, backbone, len(data.label_names), data.num_examples["train"])
    if train.cache_frozen_prefix:
        _check_frozen_prefix(backbone, train, config)
    choices = len(config.bottleneck_sizes) * len(config.learning_rates or [0]) * len(
        config.adapter_presets or [0]
    )
    log(role.describe())
    if role.kind == "worker":
        return search_as_worker(config, hypermodel, data, preprocessor, role, choices)
    # The keras-tuner project every process of a distributed search shares.
    shared = shared_search_dir(config.output_dir) if role.distributed else None
    # Written under a temporary name and switched in when complete: an earlier
    # search in `output_dir` stays intact until then. A search that stops
    # early (Ctrl-C, no trial completed) keeps its per-trial results only
    # where it replaces nothing.
    def keep_unfinished(error):
        return os.path.isfile(os.path.join(search_dir, RESULTS_JSON)) and not holds_search(output_dir)

    with atomic_directory(output_dir, overwrite=True, keep_unfinished=keep_unfinished) as search_dir:
        tuner = make_tuner(
            config.tuner,
            hypermodel,
            objective=config.objective,
            max_trials=config.max_trials,
            max_epochs=train.epochs,
            directory=shared or search_dir,
            project_name=TRIALS_DIR,
            seed=train.seed,
            # Over-budget choices fail by design; do not let them end the search.
            max_consecutive_failed_trials=max(3, choices + 1),
        )
        log(
            f"Search: {config.tuner}, objective {config.objective}, bottlenecks "
            f"{list(config.bottleneck_sizes)}, backbone {train.preset} ({type(backbone).__name__}); "
            f"data {data.name}: " + ", ".join(f"{k} {v:,}" for k, v in data.num_examples.items())
        )
        # With the frozen-prefix cache, every trial reads the data in one order
        # (part of the cache's key) and the cache reshuffles it each epoch.
        shuffle_seed = None if train.cache_frozen_prefix else train.seed
        train_ds = tokenized(data.train, preprocessor, train.batch_size, shuffle_seed=shuffle_seed)
        validation_ds = tokenized(data.validation, preprocessor, train.batch_size)
        # Only caches too large for memory go there; removed after the search.
        hypermodel.prefix_cache_dir = os.path.join(search_dir, RUN_CACHE_DIR)

        summary = {
            "format": SEARCH_FORMAT,
            "format_version": 1,
            "settings": config.settings_record(),
            "backbone_fingerprint": backbone_fingerprint(backbone),
            "backbone_parameters": count_parameters(backbone).total,
        }
        search_started = time.perf_counter()
        rows = _search(tuner, hypermodel, train_ds, validation_ds, config, search_dir, output_dir, summary)
        summary["search_seconds"] = time.perf_counter() - search_started
        best, train_config, best_metrics = _write_best_trial(
            tuner, rows, config, data, preprocessor, search_dir, output_dir, summary,
        )
        paths = write_results(rows, search_dir, config.objective, summary)
        if shared:
            # Every worker has finished: the project is complete.
            os.rename(os.path.join(shared, TRIALS_DIR), os.path.join(search_dir, TRIALS_DIR))
            os.rmdir(shared)
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


def _hypermodel(config, backbone, num_classes, num_train_examples):
    """The `AdapterHyperModel` of a search: every trial a `PooledTextClassifier` on a clone of
    `backbone`, compiled with `config.train`'s recipe."""
    train = config.train
    steps = -(-num_train_examples // train.batch_size) * train.epochs

    def schedule(peak):
        if train.schedule == "linear":
            return WarmupLinearDecay(peak, steps, int(train.warmup_fraction * steps))
        return peak

    return AdapterHyperModel(
        backbone,
        lambda adapted, hp: PooledTextClassifier(
            adapted, num_classes, pooling=train.pooling, dropout=train.head_dropout
        ),
        bottleneck_sizes=config.bottleneck_sizes,
        adapter=train.adapter,
        adapter_presets=config.adapter_presets,
        layers=None if train.layers is None else [train.layers],
        learning_rates=config.learning_rates,
        learning_rate=train.learning_rate,
        learning_rate_schedule=schedule,
        compile_task=functools.partial(
            default_compile, weight_decay=train.weight_decay,
            jit_compile=resolve_jit_compile(train.jit_compile, steps=steps),
        ),
        max_trainable_parameters=config.max_trainable_parameters,
        seed=train.seed,
        cache_frozen_prefix=train.cache_frozen_prefix,
    )


def _search(tuner, hypermodel, train_ds, validation_ds, config, search_dir, output_dir, summary):
    """Runs `tuner`'s search; returns every trial's `TrialResult`.

    A search that stops early (Ctrl-C, or the oracle giving up after
    failures in a row) writes the results of the trials that finished
    before the error goes on; the frozen-prefix cache's files are removed
    in every case.

    Raises:
        TuningError: when the oracle gave up (the last failure named).
        KeyboardInterrupt: on Ctrl-C.
    """
    try:
        tuner.search(train_ds, validation_data=validation_ds, epochs=config.train.epochs,
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
            + where_results_are(output_dir)
        ) from None
    finally:
        shutil.rmtree(hypermodel.prefix_cache_dir, ignore_errors=True)
    return collect_trial_results(tuner, hypermodel)


def _write_best_trial(tuner, rows, config, data, preprocessor, search_dir, output_dir, summary):
    """Writes the best trial as a `train` run directory in `search_dir/best/`.

    Adds the best trial and the sizes to `summary`.

    Returns:
        `(best row, its TrainConfig, its metrics.json dict)`.

    Raises:
        TuningError: when no trial completed (the results are written first).
    """
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
        summary["backbone_fingerprint"],
        best_epoch=best_epoch,
        history=history,
        wall_time_seconds={"training": best.fit_seconds, "search": summary["search_seconds"]},
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
        full_weights_bytes_float32=4 * best_metrics["parameters"]["total"],
        # Trained trials only: a rejected trial's directory holds only trial.json.
        mean_trial_dir_bytes=sum(trial_bytes) / len(trial_bytes) if trial_bytes else None,
    )
    return best, train_config, best_metrics
