"""`TrainConfig`: the settings of a text-classification training run.

Imports neither Keras nor TensorFlow (its defaults come from
`keras_adapters.defaults`), so `keras-adapters train --help` and option
errors answer without them.
"""

import dataclasses

from keras_adapters import defaults
from keras_adapters.config import AdapterConfig, parse_layers
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.utils.settings import check_settings, document_settings, setting

__all__ = ["TrainConfig"]

DATASET_HELP = (
    "Dataset: 'rotten_tomatoes' (default; real review snippets, fixed "
    "train/validation/test split), '20newsgroups', 'csv:PATH', 'tsv:PATH', "
    "'jsonl:PATH', or 'tfds:NAME' (a TFDS text-classification dataset, needs "
    "network access the first time)."
)

#: `TrainConfig.task` values (`question-answering`: `keras_adapters.training.question_answering`;
#: `seq2seq`: `keras_adapters.training.seq2seq`).
TASKS = ("text-classification", "question-answering", "seq2seq")

#: `TrainConfig.distribute` values (`keras_adapters.training.distribution`).
DISTRIBUTE_MODES = ("none", "mirrored", "data-parallel")

#: `TrainConfig.jit_compile` values (`keras_adapters.training.compilation`).
JIT_COMPILE_SETTINGS = ("auto", "on", "off")

#: Why `jit_compile="on"` and `distribute="mirrored"` are refused together.
XLA_UNDER_MIRRORED = (
    "`jit_compile='on'` (--jit-compile on) cannot be combined with `distribute='mirrored'`: "
    "Keras does not compile with XLA under a tf.distribute strategy. Use --jit-compile auto or off."
)


def _adapter_help():
    return (
        f"Adapter config: a preset ({', '.join(AdapterConfig.presets())}) or a JSON file. "
        "houlsby: after attention and feed-forward, layer norms trained; pfeiffer: after "
        "feed-forward only; parallel: scaled parallel adapter beside the feed-forward block "
        "(He et al.); lora: low-rank query/value updates, mergeable; ia3: key/value/feed-forward "
        "rescaling, mergeable. --bottleneck applies to houlsby, pfeiffer and parallel."
    )


@document_settings
@dataclasses.dataclass
class TrainConfig:
    """Settings of a training run (the `keras-adapters train` options).

    Every field is declared with its default and, in its metadata, its
    allowed values and a one-line help (`keras_adapters.utils.settings.setting`);
    `validate()` enforces them, `keras-adapters train --help` lists them and
    `help(TrainConfig)` shows them as Args, so each is written once, at the field.

    Example:

    >>> from keras_adapters.training import TrainConfig
    >>> config = TrainConfig(output_dir="runs/reviews", dataset="csv:reviews.csv", epochs=3)
    >>> config.preset, config.adapter, config.learning_rate
    ('minilm_l6', 'parallel', 0.001)
    >>> TrainConfig(batch_size=0).validate()
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: `batch_size` must be a positive integer; got 0.
    """

    output_dir: str = dataclasses.field(default="runs/adapter-run", metadata=setting(
        flags=("--output-dir", "-o"),
        help="Run directory to write (adapter files, metrics.json, plot)."))
    overwrite: bool = dataclasses.field(default=False, metadata=setting(
        help="Replace a run already in --output-dir."))
    preset: str = dataclasses.field(default=defaults.DEFAULT_PRESET, metadata=setting(
        help=f"Backbone: {defaults.DEFAULT_PRESET!r} (pretrained all-MiniLM-L6-v2, offline), "
             "a local KerasHub preset or Hugging Face checkpoint folder, or a KerasHub preset "
             "handle (needs network)."))
    task: str = dataclasses.field(default="text-classification", metadata=setting(
        choices=TASKS,
        help="'text-classification' (pooled classifier), or 'question-answering' (extractive: "
             "start/end logits, SQuAD exact match and F1; --dataset 'jsonl:PATH' or "
             "'squad:PATH'), or 'seq2seq' (summarisation/translation: a random-initialised "
             "BART with GPT-2's BPE, ROUGE; --dataset 'aclsum' or 'jsonl:PATH' with "
             "'source' and 'target'; --adapter full trains every weight instead)."))
    dataset: str = dataclasses.field(default="rotten_tomatoes", metadata=setting(
        flags=("--dataset", "-d"), help=DATASET_HELP))
    text_column: str = dataclasses.field(default="text", metadata=setting(
        help="Text column of file datasets."))
    text_pair_column: str | None = dataclasses.field(default=None, metadata=setting(
        help="Second text column, for sentence-pair classification."))
    label_column: str = dataclasses.field(default="label", metadata=setting(
        help="Label column of file datasets."))
    validation_data: str | None = dataclasses.field(default=None, metadata=setting(
        help="Validation dataset spec for file datasets (default: 10% of train, stratified)."))
    test_data: str | None = dataclasses.field(default=None, metadata=setting(
        help="Test dataset spec for file datasets."))
    # The benchmark's best accuracy within full fine-tuning's training time
    # (`benchmarks.targets.recommended_setting`; tests/test_benchmarks.py keeps them equal).
    adapter: str = dataclasses.field(default="parallel", metadata=setting(
        flags=("--adapter", "-a"), help=_adapter_help()))
    bottleneck_size: int | None = dataclasses.field(default=None, metadata=setting(
        flags=("--bottleneck",), minimum=1,
        help="Adapter bottleneck size (overrides the adapter config; parallel: hidden size / "
             f"{AdapterConfig.from_preset('parallel').reduction_factor}, houlsby: "
             f"{AdapterConfig.from_preset('houlsby').bottleneck_size})."))
    layers: str | None = dataclasses.field(default=None, metadata=setting(
        check=parse_layers,
        help="Transformer blocks that get adapters: 'top:K', 'bottom:K' or comma-separated "
             "indices like '3,4,5'; default every block."))
    cache_frozen_prefix: bool = dataclasses.field(default=False, metadata=setting(
        help="Compute the frozen lower blocks' outputs once and train the upper blocks on them "
             "(needs --layers leaving lower blocks without adapters)."))
    epochs: int = dataclasses.field(default=2, metadata=setting(
        minimum=1, help="Passes over the training data."))
    batch_size: int = dataclasses.field(default=32, metadata=setting(
        minimum=1, help="Examples per training step."))
    sequence_length: int = dataclasses.field(default=48, metadata=setting(
        minimum=8,
        help="Tokens per example, longer inputs are truncated (48 covers 96% of the Rotten "
             "Tomatoes snippets whole)."))
    learning_rate: float = dataclasses.field(default=defaults.LEARNING_RATE, metadata=setting(
        flags=("--learning-rate", "--lr"), minimum=0, min_open=True,
        help="Peak learning rate of AdamW."))
    schedule: str = dataclasses.field(default="linear", metadata=setting(
        choices=defaults.SCHEDULES, help="'linear': warm-up then linear decay to 0 (as Houlsby et al.)."))
    warmup_fraction: float = dataclasses.field(default=defaults.WARMUP_FRACTION, metadata=setting(
        flags=("--warmup",), minimum=0, maximum=1, max_open=True,
        help="Share of training steps used for warm-up."))
    weight_decay: float = dataclasses.field(default=defaults.WEIGHT_DECAY, metadata=setting(
        minimum=0, help="AdamW's decoupled weight decay (none on biases and layer norms)."))
    pooling: str = dataclasses.field(default="mean", metadata=setting(
        choices=defaults.POOLINGS, help="How the classifier pools the token sequence."))
    head_dropout: float = dataclasses.field(default=0.1, metadata=setting(
        minimum=0, maximum=1, max_open=True, help="Dropout before the classifier layer."))
    seed: int = dataclasses.field(default=0, metadata=setting(
        help="Seed for weight initialisation, shuffling and dropout."))
    max_train_examples: int | None = dataclasses.field(default=None, metadata=setting(
        minimum=1, help="Use at most this many training examples (quick runs)."))
    jit_compile: str = dataclasses.field(default="auto", metadata=setting(
        choices=JIT_COMPILE_SETTINGS,
        help="Compile the training step with XLA. 'auto': on with TensorFlow (1.78x faster on a "
             "2-core CPU) for runs of 100 steps or more (XLA compiles each input shape once "
             "first), on with JAX, off with PyTorch and under --distribute mirrored."))
    distribute: str = dataclasses.field(default="none", metadata=setting(
        choices=DISTRIBUTE_MODES,
        help="'none': one device. 'mirrored': tf.distribute.MirroredStrategy over this "
             "machine's GPUs (without GPUs: its logical CPU devices; TensorFlow backend). "
             "'data-parallel': keras.distribution.DataParallel over the devices of "
             "--num-processes processes (JAX backend; run the command once per process). "
             "--batch-size is the global batch, split evenly across replicas; the learning "
             "rate is used as given."))
    num_processes: int = dataclasses.field(default=1, metadata=setting(
        minimum=1, help="--distribute data-parallel: how many processes train together."))
    process_id: int = dataclasses.field(default=0, metadata=setting(
        minimum=0, help="--distribute data-parallel: this process's index (0 writes the run)."))
    coordinator: str | None = dataclasses.field(default=None, metadata=setting(
        help="--distribute data-parallel: 'HOST:PORT' of process 0, reachable from every "
             "process (needed with --num-processes above 1)."))

    def load_data(self):
        """The run's `TextClassificationData` (`load_dataset` with these settings).

        Returns:
            A `keras_adapters.data.TextClassificationData`.
        """
        # Imported here: the data package loads TensorFlow.
        from keras_adapters.data import load_dataset

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

    def adapter_config(self):
        """The run's `AdapterConfig`: `adapter` with `bottleneck_size` and `layers` applied.

        Returns:
            A `keras_adapters.AdapterConfig`.

        Raises:
            KerasAdaptersError: for an unknown preset, an unreadable file or
                invalid overrides.

        Example:

        >>> from keras_adapters.training import TrainConfig
        >>> TrainConfig(adapter="pfeiffer", bottleneck_size=8).adapter_config().bottleneck_size
        8
        """
        overrides = {}
        if self.bottleneck_size is not None:
            overrides["bottleneck_size"] = self.bottleneck_size
        if self.layers is not None:
            overrides["layers"] = self.layers
        return AdapterConfig.get(self.adapter, **overrides)

    def validate(self):
        """Checks the settings that do not depend on the model.

        Limits that depend on the backbone (the sequence length against its
        maximum) are checked by `check_model_options` once it is loaded.

        Raises:
            KerasAdaptersError: naming the first invalid setting and what is
                allowed, or settings that cannot be combined.
        """
        check_settings(self)
        # Checked here, before any data or model is loaded (the strategy is made later).
        if self.jit_compile == "on" and self.distribute == "mirrored":
            raise KerasAdaptersError(XLA_UNDER_MIRRORED)
