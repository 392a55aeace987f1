"""keras-tuner tuners for an adapter search: building one, and running one as a worker.

`make_tuner` builds a stock keras-tuner tuner (random search, Bayesian
optimisation or Hyperband) for an `AdapterHyperModel`; `search_as_worker`
runs the trials a distributed search's chief hands out
(`keras_adapters.tuning.distributed`).
"""

import os
import shutil

import keras_tuner

from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training import tokenized
from keras_adapters.training.prefix_store import RUN_CACHE_DIR
from keras_adapters.tuning.config import TUNERS
from keras_adapters.tuning.distributed import shared_search_dir
from keras_adapters.tuning.search_directory import TRIALS_DIR

__all__ = ["make_tuner", "search_as_worker"]


def make_tuner(kind, hypermodel, *, objective, max_trials, max_epochs, directory, project_name,
               seed=None, max_consecutive_failed_trials=3, overwrite=True):
    """Builds a stock keras-tuner tuner of `kind` for `hypermodel`.

    Args:
        kind: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: trials for random and Bayesian search.
        max_epochs: Hyperband's `max_epochs` (factor 3).
        overwrite: start a new project (False: a distributed search's
            workers join the chief's).
        (the rest as keras-tuner's arguments.)
    """
    common = dict(
        objective=objective,
        seed=seed,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
    )
    if kind == "random":
        return keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if kind == "bayesian":
        return keras_tuner.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    if kind == "hyperband":
        return keras_tuner.Hyperband(hypermodel, max_epochs=max_epochs, factor=3, **common)
    raise KerasAdaptersError(f"Unknown tuner {kind!r}. Allowed: {', '.join(TUNERS)}.")


def search_as_worker(config, hypermodel, data, preprocessor, role, choices):
    """A distributed search's worker: trains the trials the chief hands out.

    Writes only the trials' checkpoints, in the shared keras-tuner project.

    Returns:
        `{"role": role, "trials": the trial ids this worker trained}`.
    """
    train = config.train
    tuner = make_tuner(
        config.tuner, hypermodel, objective=config.objective, max_trials=config.max_trials,
        max_epochs=train.epochs, directory=shared_search_dir(config.output_dir),
        project_name=TRIALS_DIR, seed=train.seed, max_consecutive_failed_trials=max(3, choices + 1),
        overwrite=False,
    )
    ran = []
    run_trial = tuner.run_trial

    def run_and_record(trial, *args, **kwargs):
        ran.append(trial.trial_id)
        return run_trial(trial, *args, **kwargs)

    tuner.run_trial = run_and_record
    shuffle_seed = None if train.cache_frozen_prefix else train.seed
    hypermodel.prefix_cache_dir = os.path.join(tuner.project_dir, f"{RUN_CACHE_DIR}-{role.tuner_id}")
    try:
        tuner.search(
            tokenized(data.train, preprocessor, train.batch_size, shuffle_seed=shuffle_seed),
            validation_data=tokenized(data.validation, preprocessor, train.batch_size),
            epochs=train.epochs,
            verbose=config.verbose,
        )
    finally:
        shutil.rmtree(hypermodel.prefix_cache_dir, ignore_errors=True)
    return {"role": role, "trials": ran}
