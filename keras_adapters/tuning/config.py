"""`TuneConfig`: the settings of an adapter search (`keras-adapters tune`).

Imports neither keras-tuner, Keras nor TensorFlow, so `keras-adapters tune
--help` and option errors answer without them.
"""

import dataclasses
import os

from keras_adapters.config import AdapterConfig
from keras_adapters.defaults import DEFAULT_BOTTLENECK_SIZES
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.training.config import TrainConfig
from keras_adapters.utils.settings import check_settings, document_settings, setting

__all__ = ["TuneConfig"]

TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVES = ("val_accuracy", "val_loss")
# Where in the search directory the best trial is written as a run.
BEST_DIR = "best"


@document_settings
@dataclasses.dataclass
class TuneConfig:
    """Settings of a search (the `keras-adapters tune` options).

    A search composes a `TrainConfig`, what every trial trains with (data,
    backbone, sequence length, epochs per trial, schedule, ...), with the
    search space and search settings below; the best trial is written as the
    run `train` would have written with its values. Every field is declared
    with its default and, in its metadata, its allowed values and help
    (`keras_adapters.utils.settings.setting`); `help(TuneConfig)` shows
    them as Args.

    Example:

    >>> from keras_adapters.training import TrainConfig
    >>> from keras_adapters.tuning.config import TuneConfig
    >>> config = TuneConfig(output_dir="runs/tune",
    ...                     train=TrainConfig(dataset="csv:reviews.csv", epochs=1),
    ...                     bottleneck_sizes=(8, 64, 256), max_trials=3)
    >>> config.validate()
    >>> best = config.train_config({"bottleneck_size": 64})
    >>> best.bottleneck_size, best.output_dir, best.dataset, best.epochs
    (64, 'runs/tune/best', 'csv:reviews.csv', 1)
    >>> lora = config.train_config({"adapter": "lora"})  # no bottleneck
    >>> lora.adapter_config().kind, lora.bottleneck_size
    ('lora', None)
    >>> TuneConfig(tuner="grid").validate()
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: `tuner` must be one of random, bayesian, hyperband; got 'grid'.
    """

    output_dir: str = dataclasses.field(default="runs/adapter-tune", metadata=setting(
        flags=("--output-dir", "-o"),
        help="Search directory to write (trials/, results.json/.csv/.png, best/)."))
    overwrite: bool = dataclasses.field(default=False, metadata=setting(
        help="Replace a search already in --output-dir."))
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig, metadata=setting(
        # The search has its own output directory; bottleneck_sizes replaces bottleneck_size;
        # searches tune text classifiers on one process each (distributed searches use
        # keras-tuner's chief/worker variables, not --distribute).
        omit=("output_dir", "overwrite", "bottleneck_size", "task", "distribute",
              "num_processes", "process_id", "coordinator"),
        nested_help={"epochs": "Epochs per trial (Hyperband: its max_epochs)."},
        help="What every trial trains with (its output_dir, overwrite and bottleneck_size "
             "are not used)."))
    bottleneck_sizes: tuple[int, ...] = dataclasses.field(
        default=DEFAULT_BOTTLENECK_SIZES, metadata=setting(
            flags=("--bottlenecks",), minimum=1, help="Bottleneck sizes to choose from."))
    learning_rates: tuple[float, ...] | None = dataclasses.field(default=None, metadata=setting(
        minimum=0, min_open=True,
        help="Also search over peak learning rates, e.g. '1e-3,3e-4' (replaces --lr)."))
    adapter_presets: tuple[str, ...] | None = dataclasses.field(default=None, metadata=setting(
        flags=("--adapters",), choices=AdapterConfig.presets(),
        help="Also search over adapter presets: the method is a search dimension, e.g. "
             "'houlsby,lora,ia3' (replaces --adapter); --bottlenecks applies to the bottleneck "
             "and parallel ones."))
    max_trials: int = dataclasses.field(default=6, metadata=setting(
        minimum=1,
        help="Trials for random and Bayesian search (random search also stops when every "
             "combination was tried)."))
    tuner: str = dataclasses.field(default="random", metadata=setting(
        choices=TUNERS, help="keras-tuner search algorithm (hyperband: factor 3)."))
    objective: str = dataclasses.field(default="val_accuracy", metadata=setting(
        choices=OBJECTIVES, help="What the search optimises."))
    max_trainable_parameters: int | None = dataclasses.field(default=None, metadata=setting(
        flags=("--max-trainable-params",), minimum=1,
        help="Parameter budget: trials with more trainable parameters are not trained "
             "(reported as failed)."))
    verbose: int = dataclasses.field(default=1, metadata=setting(
        command_line=False, help="Keras/keras-tuner verbosity during the search."))

    def validate(self):
        """Checks every setting (the trials' `TrainConfig` included).

        Raises:
            KerasAdaptersError: naming the first invalid setting and what is
                allowed.
        """
        check_settings(self)
        if self.train.bottleneck_size is not None:
            raise KerasAdaptersError("A search takes `bottleneck_sizes`, not `bottleneck_size`.")

    def train_config(self, values):
        """The `TrainConfig` of one trial's settings, writing to `best/`.

        Args:
            values: the trial's hyperparameter values (`bottleneck_size`
                for methods with a bottleneck, and `learning_rate`,
                `adapter`, `layers` when searched).

        Returns:
            A `TrainConfig`.
        """
        return dataclasses.replace(
            self.train,
            output_dir=os.path.join(self.output_dir, BEST_DIR),
            overwrite=True,
            # None for LoRA and (IA)^3 trials, which have no bottleneck.
            bottleneck_size=values.get("bottleneck_size"),
            learning_rate=values.get("learning_rate", self.train.learning_rate),
            adapter=values.get("adapter", self.train.adapter),
            layers=values.get("layers", self.train.layers),
        )

    def settings_record(self):
        """The settings as `results.json` records them.

        Returns:
            A flat dict: the trials' `TrainConfig` fields, then the search's
            own (its `output_dir` and `overwrite` replacing the trials').
        """
        record = dataclasses.asdict(self.train)
        search = dataclasses.asdict(self)
        del search["train"]
        record.update(search)
        return record
