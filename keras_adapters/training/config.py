"""`TrainConfig`: the settings of a text-classification training run."""

import dataclasses

from keras_adapters.data import load_dataset
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.pretrained import DEFAULT_PRESET
from keras_adapters.tasks.text_classifier import POOLINGS

__all__ = ["TrainConfig"]


@dataclasses.dataclass
class TrainConfig:
    """Settings of a training run (the `keras-adapters train` options).

    Args:
        output_dir: run directory to write.
        preset: backbone preset: `"minilm_l6"`, a KerasHub handle, or a local
            preset / Hugging Face folder.
        dataset: dataset spec for `keras_adapters.data.load_dataset`.
        text_column, label_column, text_pair_column: columns of file
            datasets.
        validation_data, test_data: extra dataset specs for file datasets.
        adapter: adapter config: preset name or JSON file.
        bottleneck_size: overrides the adapter config's bottleneck.
        epochs, batch_size, sequence_length: training shape.
        learning_rate: peak learning rate of AdamW.
        schedule: `"linear"` (warm-up then linear decay) or `"constant"`.
        warmup_fraction: share of the steps spent warming up.
        weight_decay: AdamW decoupled weight decay (not on biases and norms).
        pooling: classifier pooling, `"mean"` or `"cls"`.
        head_dropout: dropout before the classifier layer.
        seed: seed for weights init, shuffling and dropout.
        max_train_examples: cap on training examples (quick runs).
        overwrite: replace an existing run in `output_dir`.

    Example:

    >>> config = TrainConfig(output_dir="runs/reviews", dataset="csv:reviews.csv", epochs=3)
    >>> config.preset, config.adapter, config.learning_rate
    ('minilm_l6', 'houlsby', 0.001)
    >>> TrainConfig(batch_size=0).validate()
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: `batch_size` must be a positive integer; got 0.
    """

    output_dir: str = "runs/adapter-run"
    preset: str = DEFAULT_PRESET
    dataset: str = "rotten_tomatoes"
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: str | None = None
    validation_data: str | None = None
    test_data: str | None = None
    adapter: str = "houlsby"
    bottleneck_size: int | None = None
    epochs: int = 2
    batch_size: int = 32
    sequence_length: int = 48
    learning_rate: float = 1e-3
    schedule: str = "linear"
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    pooling: str = "mean"
    head_dropout: float = 0.1
    seed: int = 0
    max_train_examples: int | None = None
    overwrite: bool = False

    def load_data(self):
        """The run's `TextClassificationData` (`load_dataset` with these settings).

        Returns:
            A `keras_adapters.data.TextClassificationData`.
        """
        return load_dataset(
            self.dataset,
            text_column=self.text_column,
            label_column=self.label_column,
            text_pair_column=self.text_pair_column,
            validation=self.validation_data,
            test=self.test_data,
            seed=self.seed,
            max_examples=self.max_train_examples,
        )

    def validate(self):
        """Checks the settings that do not depend on the model.

        Limits that depend on the backbone (the sequence length against its
        maximum) are checked by `check_model_options` once it is loaded.

        Raises:
            KerasAdaptersError: naming the first invalid setting and what is
                allowed.
        """
        def positive(name):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise KerasAdaptersError(f"`{name}` must be a positive integer; got {value!r}.")

        for name in ("epochs", "batch_size", "sequence_length"):
            positive(name)
        if self.max_train_examples is not None:
            positive("max_train_examples")
        # Written as `not x > 0` so that NaN fails too.
        if not self.learning_rate > 0:
            raise KerasAdaptersError(
                f"`learning_rate` must be positive; got {self.learning_rate!r}."
            )
        if self.schedule not in ("linear", "constant"):
            raise KerasAdaptersError(
                f"`schedule` must be 'linear' or 'constant'; got {self.schedule!r}."
            )
        if not 0 <= self.warmup_fraction < 1:
            raise KerasAdaptersError(
                f"`warmup_fraction` must be in [0, 1); got {self.warmup_fraction!r}."
            )
        if not self.weight_decay >= 0:
            raise KerasAdaptersError(
                f"`weight_decay` must be 0 or positive; got {self.weight_decay!r}."
            )
        if not 0 <= self.head_dropout < 1:
            raise KerasAdaptersError(f"`head_dropout` must be in [0, 1); got {self.head_dropout!r}.")
        if self.pooling not in POOLINGS:
            raise KerasAdaptersError(
                f"`pooling` must be one of {', '.join(POOLINGS)}; got {self.pooling!r}."
            )
        if self.sequence_length < 8:
            raise KerasAdaptersError(
                f"`sequence_length` must be at least 8; got {self.sequence_length}."
            )
