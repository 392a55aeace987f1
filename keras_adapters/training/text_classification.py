"""A complete adapter fine-tuning run for text classification.

`train_text_classifier` is what `keras-adapters train` runs: load a
pretrained backbone and its tokenizer, add adapters, train with AdamW and a
warm-up/linear-decay schedule, keep the best epoch on validation, test it,
and write a run directory:

    run.json                 what was run: preset, data, settings, labels
    adapter/                 adapter + head weights of the best epoch
                             (`save_adapters` format, written atomically)
    metrics.json             test/validation metrics, history, timings, sizes
    training_curve.png       training loss per step, validation per epoch

`load_run` rebuilds the classifier from such a directory onto the same base
backbone; `evaluate` and `predict` use it. `write_run_directory` writes the
same layout (minus the curve) for a model trained elsewhere, e.g. the best
trial of `keras-adapters tune`.
"""

from keras_adapters.errors import KerasAdaptersError

import dataclasses
import json
import os
import time

import keras
import numpy as np

from keras_adapters.config import AdapterConfig, read_json_object
from keras_adapters.data import load_dataset
from keras_adapters.data.loading import describe_labels
from keras_adapters.pretrained import (
    DEFAULT_PRESET,
    backbone_fingerprint,
    load_backbone,
    load_preprocessor,
)
from keras_adapters.saving import (
    load_adapters,
    read_adapter_file,
    read_adapter_weights,
    save_adapters,
)
from keras_adapters.surgery import add_adapters
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.tasks.text_classifier import POOLINGS
from keras_adapters.training.callbacks import BestAdapterCheckpoint, TrainingLog
from keras_adapters.training.metrics import CONFUSION_MATRIX_MAX_CLASSES, classification_metrics
from keras_adapters.utils.atomic import (
    atomic_directory,
    atomic_file,
    check_writable,
    recover_leftovers,
)
from keras_adapters.utils.parameters import count_parameters

RUN_FILE = "run.json"
ADAPTER_DIR = "adapter"
METRICS_FILE = "metrics.json"
CURVE_FILE = "training_curve.png"
RUN_FORMAT = "keras-adapters/text-classification-run"


class RunError(KerasAdaptersError):
    """A run directory that cannot be written or read."""


class TrainingInterrupted(Exception):
    """Training was interrupted (Ctrl-C); what is on disk is complete.

    A new run directory keeps the best checkpoint saved so far. An earlier
    run being overwritten is left unchanged instead: an unfinished run never
    replaces a finished one.

    Attributes:
        checkpoint: path of the last good checkpoint, or None.
        epoch: its epoch (1-based, as recorded in the checkpoint), or None.
        kept_run: the earlier run directory left unchanged, or None.
    """

    def __init__(self, checkpoint, epoch, kept_run=None):
        self.checkpoint = checkpoint
        self.epoch = epoch
        self.kept_run = kept_run
        if checkpoint:
            where = f"the last good checkpoint (epoch {epoch}) is intact at {checkpoint}"
        elif kept_run:
            where = (
                f"the earlier run in {kept_run} was left unchanged (the unfinished new run "
                "was discarded)"
            )
        else:
            where = "no checkpoint had been saved yet, so no run was written"
        super().__init__(f"Training interrupted; {where}.")


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


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """What keras-adapters writes in one kind of output directory.

    `prepare_output_dir` replaces a directory only if it recognises it by
    this layout, so that an overwrite never deletes anything keras-adapters
    did not write.

    Attributes:
        kind: what the directory holds, for messages (`"run"`, `"search"`).
        record_file: the file whose content identifies the directory.
        is_record: callable taking the parsed record file (a dict); True if
            keras-adapters wrote it.
        entries: every name keras-adapters writes in the directory.
    """

    kind: str
    record_file: str
    is_record: object
    entries: tuple


RUN_LAYOUT = OutputLayout(
    kind="run",
    record_file=RUN_FILE,
    is_record=lambda record: record.get("format") == RUN_FORMAT,
    entries=(RUN_FILE, ADAPTER_DIR, METRICS_FILE, CURVE_FILE),
)

# How many unexpected names a message lists.
_SHOWN_NAMES = 5


def _not_written_by_us(path, names, layout):
    """Why directory `path` (holding `names`) is not a `layout` directory; None if it is."""
    own = [name for name in names if name in layout.entries]
    # Hidden temporary copies of an entry, left by an interrupted write.
    own += [
        name for name in names
        if any(name.startswith(f".{entry}.partial-") or name.startswith(f".{entry}.old-")
               for entry in layout.entries)
    ]
    foreign = sorted(set(names) - set(own))
    if layout.record_file not in names:
        found = sorted(names)
        listed = ", ".join(found[:_SHOWN_NAMES]) + (", ..." if len(found) > _SHOWN_NAMES else "")
        return f"is not empty and holds no keras-adapters {layout.kind} (no {layout.record_file}; found {listed})"
    record_path = os.path.join(path, layout.record_file)
    try:
        with open(record_path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as e:  # unreadable, not UTF-8, not JSON
        return f"has a {layout.record_file} that keras-adapters cannot read ({e})"
    if not isinstance(record, dict) or not layout.is_record(record):
        return f"has a {layout.record_file} that keras-adapters did not write"
    if foreign:
        listed = ", ".join(foreign[:_SHOWN_NAMES]) + (", ..." if len(foreign) > _SHOWN_NAMES else "")
        return f"holds a keras-adapters {layout.kind} but also {listed}, which keras-adapters did not write"
    return None


def prepare_output_dir(path, overwrite, layout=RUN_LAYOUT):
    """Checks that `path` may receive a new run (or search); deletes nothing.

    A missing or empty directory is fine. A directory that keras-adapters
    wrote (recognised by the content of its record file, `run.json` for a
    run, and holding nothing else) may be replaced with `overwrite`; anything
    else is refused, so user files are never deleted. The caller writes the
    new directory under a temporary name and switches it in with
    `keras_adapters.utils.atomic.atomic_directory` when it is complete, so
    the earlier one is kept until then (and kept if the new one fails).

    Also cleans up what an earlier, killed write to `path` left next to it,
    and checks now that the location can be written.

    Args:
        path: the directory. A symbolic link is followed: the directory it
            points to is checked (and later replaced); the link stays.
        overwrite: whether an earlier run (or search) there may be replaced.
        layout: what keras-adapters writes there (`RUN_LAYOUT`, or the
            search layout of `keras_adapters.tuning`).

    Returns:
        The directory to write: `path` made absolute, with symbolic links
        resolved.

    Raises:
        RunError: if `path` is a file, holds something keras-adapters did not
            write (the message names the path and what was found), or holds
            an earlier run and `overwrite` is False.
        KerasAdaptersError: if the location cannot be written (read-only,
            no permission).

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "run")
    >>> prepare_output_dir(path, overwrite=False) == os.path.realpath(path)
    True
    >>> os.makedirs(path)
    >>> open(os.path.join(path, "notes.txt"), "w").close()
    >>> prepare_output_dir(path, overwrite=True)
    Traceback (most recent call last):
    ...
    keras_adapters.training.text_classification.RunError: Output directory ... is not empty and holds no keras-adapters run (no run.json; found notes.txt); refusing to replace it: keras-adapters only removes what it wrote. Choose a new or empty directory, or move those files.
    """
    target = os.path.realpath(os.fspath(path))
    if os.path.lexists(target) and not os.path.isdir(target):
        raise RunError(f"Output directory {os.fspath(path)!r} is a file. Choose a directory path.")
    recover_leftovers(target)
    names = os.listdir(target) if os.path.isdir(target) else []
    if names:
        problem = _not_written_by_us(target, names, layout)
        shown = os.fspath(path) if target == os.path.abspath(path) else f"{os.fspath(path)} (-> {target})"
        if problem:
            raise RunError(
                f"Output directory {shown!r} {problem}; refusing to replace it: keras-adapters "
                "only removes what it wrote. Choose a new or empty directory, or move those files."
            )
        if not overwrite:
            raise RunError(
                f"Output directory {shown!r} already holds a {layout.kind}. Pass --overwrite "
                "(overwrite=True) to replace it, or choose another --output-dir."
            )
    check_writable(target)
    return target


def _holds_entries(path):
    """Whether directory `path` exists and is not empty."""
    return os.path.isdir(path) and bool(os.listdir(path))


def _write_json(path, data):
    with atomic_file(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def tokenized(dataset, preprocessor, batch_size, shuffle_seed=None):
    """Batches a `(text, label)` dataset and tokenizes it with `preprocessor`.

    Args:
        dataset: a `tf.data.Dataset` of unbatched `(text, label)` pairs.
        preprocessor: a KerasHub preprocessor taking a batch of strings.
        batch_size: examples per batch.
        shuffle_seed: shuffle (reshuffled each epoch) with this seed; None:
            keep the order.

    Returns:
        A prefetched `tf.data.Dataset` of `(features dict, labels)` batches.

    Example:

    >>> import tensorflow as tf
    >>> from keras_adapters.pretrained import load_preprocessor
    >>> data = tf.data.Dataset.from_tensor_slices((["a fine film", "a dull one", "ok"], [1, 0, 1]))
    >>> features, labels = next(iter(tokenized(data, load_preprocessor("minilm_l6", 8), 2)))
    >>> sorted(features), tuple(features["token_ids"].shape), labels.numpy().tolist()
    (['padding_mask', 'segment_ids', 'token_ids'], (2, 8), [1, 0])
    """
    import tensorflow as tf  # tf.data is the input pipeline; the model is backend-agnostic.

    if shuffle_seed is not None:
        dataset = dataset.shuffle(16384, seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(
        lambda text, label: (preprocessor(text), label), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _labels_and_logits(model, dataset):
    labels, logits = [], []
    for features, batch_labels in dataset:
        logits.append(model.predict_on_batch(features))
        labels.append(np.asarray(batch_labels))
    return np.concatenate(labels), np.concatenate(logits)


def _build_classifier(backbone, num_classes, adapter_config, pooling, head_dropout, name="default"):
    """Adds adapters to `backbone` and puts a `PooledTextClassifier` on top."""
    adapted = add_adapters(backbone, adapter_config, name=name)
    return PooledTextClassifier(adapted, num_classes, pooling=pooling, dropout=head_dropout)


def _plot_curves(path, log):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if log.steps:
        steps, losses = zip(*log.steps)
        left.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.8)
        smoothed, value = [], losses[0]
        for loss in losses:
            value = 0.95 * value + 0.05 * loss
            smoothed.append(value)
        left.plot(steps, smoothed, color="tab:blue", label="training loss (per step, smoothed)")
    steps_per_epoch = len(log.step_seconds) / max(len(log.epochs), 1)
    epoch_steps = [record["epoch"] * steps_per_epoch for record in log.epochs]
    left.plot(epoch_steps, [r.get("val_loss", np.nan) for r in log.epochs], "o-",
              color="tab:orange", label="validation loss")
    left.set_xlabel("training step")
    left.set_ylabel("loss")
    left.legend()
    epochs = [r["epoch"] for r in log.epochs]
    right.plot(epochs, [r.get("accuracy", np.nan) for r in log.epochs], "o-", label="training")
    right.plot(epochs, [r.get("val_accuracy", np.nan) for r in log.epochs], "o-", label="validation")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.set_xticks(epochs)
    right.legend()
    fig.suptitle("keras-adapters training run")
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


def check_model_options(config, backbone):
    """Checks the settings whose limits come from the backbone.

    Runs right after the backbone is loaded, before anything sized by the
    settings is built, so a bad value fails in a second with a message
    instead of deep inside TensorFlow. (Bottleneck sizes are checked against
    the hidden size by `add_adapters`.)

    Args:
        config: a `TrainConfig` (or any settings with `sequence_length` and
            `preset`).
        backbone: the loaded KerasHub backbone.

    Returns:
        None.

    Raises:
        KerasAdaptersError: if `sequence_length` exceeds the backbone's
            `max_sequence_length` (its number of position embeddings).

    Example:

    >>> import keras_hub
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=10, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=32)
    >>> check_model_options(TrainConfig(preset="tiny", sequence_length=64), backbone)
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: `sequence_length` (--sequence-length) is 64, but the backbone of preset 'tiny' takes at most 32 tokens (its maximum sequence length). Choose a value from 8 to 32.
    """
    maximum = getattr(backbone, "max_sequence_length", None)
    if maximum is not None and config.sequence_length > maximum:
        raise KerasAdaptersError(
            f"`sequence_length` (--sequence-length) is {config.sequence_length}, but the "
            f"backbone of preset {config.preset!r} takes at most {maximum} tokens (its "
            f"maximum sequence length). Choose a value from 8 to {maximum}."
        )


def train_text_classifier(config, log=print):
    """Runs a full training run and writes its directory.

    Args:
        config: a `TrainConfig`.
        log: callable taking one message string (the CLI passes a rich
            console printer).

    Returns:
        The metrics dict written to `metrics.json`.

    Raises:
        ValueError: for invalid settings, data or presets (subclasses carry
            the details: `DataError`, `PresetError`, `RunError`).
        TrainingInterrupted: on Ctrl-C. A new run directory keeps the best
            checkpoint saved so far; an earlier run being overwritten is
            left unchanged (it is replaced only by a finished run).

    Example (the real MiniLM on a tiny CSV file, one epoch):

    >>> import contextlib, io, os, tempfile
    >>> work = tempfile.mkdtemp()
    >>> with open(os.path.join(work, "reviews.csv"), "w") as f:
    ...     _ = f.write("text,label\\n")
    ...     for i in range(12):
    ...         _ = f.write(f"a great film number {i},good\\na dull mess number {i},bad\\n")
    >>> config = TrainConfig(output_dir=os.path.join(work, "run"),
    ...                      dataset="csv:" + os.path.join(work, "reviews.csv"),
    ...                      epochs=1, batch_size=8, sequence_length=8, bottleneck_size=4)
    >>> with contextlib.redirect_stdout(io.StringIO()):  # Keras progress bars
    ...     metrics = train_text_classifier(config, log=lambda message: None)
    >>> sorted(os.listdir(config.output_dir))
    ['adapter', 'metrics.json', 'run.json', 'training_curve.png']
    >>> validation = metrics["validation"]
    >>> 0.0 <= validation["accuracy"] <= 1.0
    True
    """
    started = time.perf_counter()
    config.validate()
    adapter_config = AdapterConfig.get(
        config.adapter,
        **({"bottleneck_size": config.bottleneck_size} if config.bottleneck_size else {}),
    )
    data = config.load_data()
    output_dir = prepare_output_dir(config.output_dir, config.overwrite)
    keras.utils.set_random_seed(config.seed)

    backbone = load_backbone(config.preset)
    check_model_options(config, backbone)
    fingerprint = backbone_fingerprint(backbone)
    preprocessor = load_preprocessor(config.preset, config.sequence_length)
    model = _build_classifier(
        backbone, len(data.label_names), adapter_config, config.pooling, config.head_dropout
    )
    del backbone  # the clone inside `model` carries the weights
    parameters = count_parameters(model)
    log(f"Parameters: {parameters}")
    log(
        f"Data {data.name}: " + ", ".join(f"{k} {v:,}" for k, v in data.num_examples.items())
        + f"; labels {describe_labels(data.label_names)}"
    )

    steps_per_epoch = -(-data.num_examples["train"] // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    model.compile(
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        schedule=config.schedule,
        total_steps=total_steps,
        warmup_fraction=config.warmup_fraction,
    )

    # Written under a temporary name and switched in when complete: an earlier
    # run in `output_dir` stays intact until then. On Ctrl-C a new run
    # directory keeps its checkpoint (TrainingInterrupted with a checkpoint).
    with atomic_directory(
        output_dir,
        overwrite=True,
        keep_unfinished=lambda error: getattr(error, "checkpoint", None) is not None,
    ) as run_dir:
        _write_json(
            os.path.join(run_dir, RUN_FILE),
            _run_info(config, adapter_config, data, fingerprint, model),
        )

        checkpoint_dir = os.path.join(run_dir, ADAPTER_DIR)

        def save_checkpoint(epoch, logs):
            save_adapters(
                model,
                checkpoint_dir,
                overwrite=True,
                metadata=_checkpoint_metadata(data, epoch, logs.get("val_accuracy")),
            )

        checkpoint = BestAdapterCheckpoint(save_checkpoint, monitor="val_accuracy")
        training_log = TrainingLog()
        train_ds = tokenized(data.train, preprocessor, config.batch_size, shuffle_seed=config.seed)
        validation_ds = tokenized(data.validation, preprocessor, config.batch_size)
        train_started = time.perf_counter()
        try:
            model.fit(
                train_ds,
                validation_data=validation_ds,
                epochs=config.epochs,
                callbacks=[checkpoint, training_log],
                verbose=1,
            )
        except KeyboardInterrupt:
            raise _interrupted(output_dir, checkpoint_dir) from None
        training_seconds = time.perf_counter() - train_started

        # Evaluate the best epoch, as saved: reload it, which also proves the
        # files restore the model.
        load_adapters(model, checkpoint_dir)
        step_seconds = training_log.step_seconds[1:] or training_log.step_seconds
        metrics = _write_run_metrics(
            run_dir,
            model,
            data,
            preprocessor,
            best_epoch=checkpoint.best_epoch,
            history=training_log.epochs,
            started=started,
            wall_time_seconds={
                "training": training_seconds,
                "median_step": float(np.median(step_seconds)) if step_seconds else None,
            },
        )
        _plot_curves(os.path.join(run_dir, CURVE_FILE), training_log)
        # Again before replacing: files may have appeared there meanwhile.
        prepare_output_dir(output_dir, config.overwrite)
    return metrics


def _interrupted(output_dir, checkpoint_dir):
    """The `TrainingInterrupted` for a Ctrl-C during training.

    The epoch is read from the checkpoint on disk, so it is right even when
    the interrupt came in the middle of a save. A new run directory keeps the
    checkpoint; an earlier run in `output_dir` is kept instead of it.
    """
    try:
        epoch = read_adapter_file(checkpoint_dir)["metadata"].get("epoch")
    except (ValueError, OSError):  # no checkpoint saved yet
        epoch = None
    if _holds_entries(output_dir):
        return TrainingInterrupted(None, None, kept_run=output_dir)
    if epoch is None:
        return TrainingInterrupted(None, None)
    return TrainingInterrupted(os.path.join(output_dir, ADAPTER_DIR), epoch)


def _run_info(config, adapter_config, data, fingerprint, model):
    """The `run.json` document of a run.

    Args:
        config: the run's `TrainConfig` (what `load_run` and `evaluate`
            rebuild the model and data from).
        adapter_config: the `AdapterConfig` trained.
        data: the `TextClassificationData` trained on.
        fingerprint: `backbone_fingerprint` of the pristine base backbone.
        model: the classifier (its backbone class is recorded).

    Returns:
        A JSON-serializable dict.
    """
    return {
        "format": RUN_FORMAT,
        "format_version": 1,
        "config": dataclasses.asdict(config),
        "adapter_config": adapter_config.to_dict(),
        "label_names": list(data.label_names),
        "text_pair": data.text_pair,
        "num_examples": dict(data.num_examples),
        "backbone_fingerprint": fingerprint,
        "backbone_class": type(model.backbone).keras_hub_class.__name__,
        "versions": _versions(),
    }


def _checkpoint_metadata(data, epoch, val_accuracy):
    return {
        "label_names": list(data.label_names),
        "epoch": epoch,
        "val_accuracy": float(val_accuracy if val_accuracy is not None else float("nan")),
    }


def _write_run_metrics(
    output_dir, model, data, preprocessor, *, best_epoch, history, started, wall_time_seconds
):
    """Evaluates the model on validation and test and writes `metrics.json`.

    The file is indented JSON with each split's confusion matrix for up to
    `CONFUSION_MATRIX_MAX_CLASSES` (50) classes; with more classes it holds
    per-class scores but no confusion matrix, as compact JSON (10,000
    classes: about 1 MB per split).

    Args:
        output_dir: the run directory; its `adapter/` must be written.
        model: the classifier, holding the weights that `adapter/` holds.
        data: the `TextClassificationData` of the run.
        preprocessor: the tokenizer/packer of the run.
        best_epoch: 1-based epoch the adapter comes from.
        history: list of per-epoch log dicts.
        started: `time.perf_counter()` at the start of the run.
        wall_time_seconds: extra timings (e.g. `training`) to record.

    Returns:
        The metrics dict written.
    """
    evaluation_started = time.perf_counter()
    results = {}
    for split, dataset in (("validation", data.validation), ("test", data.test)):
        if dataset is None:
            continue
        labels, logits = _labels_and_logits(model, tokenized(dataset, preprocessor, 64))
        results[split] = classification_metrics(labels, logits, data.label_names)
    evaluation_seconds = time.perf_counter() - evaluation_started

    checkpoint_dir = os.path.join(output_dir, ADAPTER_DIR)
    adapter_bytes = sum(
        os.path.getsize(os.path.join(checkpoint_dir, name)) for name in os.listdir(checkpoint_dir)
    )
    parameters = count_parameters(model)
    metrics = {
        **results,
        "best_epoch": best_epoch,
        "history": history,
        "wall_time_seconds": {
            "total": time.perf_counter() - started,
            **wall_time_seconds,
            "evaluation": evaluation_seconds,
        },
        "parameters": {
            "trainable": parameters.trainable,
            "total": parameters.total,
            "trainable_share": parameters.trainable_share,
            "adapter_files_bytes": adapter_bytes,
            "full_weights_bytes_float32": 4 * parameters.total,
        },
    }
    # Beyond CONFUSION_MATRIX_MAX_CLASSES classes the metrics hold per-class
    # scores only; write them without indentation so the file stays small.
    compact = len(data.label_names) > CONFUSION_MATRIX_MAX_CLASSES
    with atomic_file(os.path.join(output_dir, METRICS_FILE), "w", encoding="utf-8") as f:
        json.dump(metrics, f, sort_keys=True, indent=None if compact else 2,
                  separators=(",", ":") if compact else None)
        f.write("\n")
    return metrics


def write_run_directory(
    config,
    model,
    data,
    preprocessor,
    fingerprint,
    *,
    best_epoch,
    history,
    started=None,
    wall_time_seconds=None,
    extra_info=None,
    directory=None,
):
    """Writes a complete run directory for a classifier trained elsewhere.

    The layout `train_text_classifier` writes (`run.json`, `adapter/`,
    `metrics.json`; no training curve), so `load_run` and the `predict`,
    `evaluate` and `export` commands work on it. Used by `keras-adapters
    tune` for its best trial.

    Args:
        config: a `TrainConfig` that would train this model: its
            `output_dir` is the directory written, and `preset`, `dataset`,
            `pooling`, `head_dropout` and `sequence_length` must be the ones
            the model was built and trained with.
        model: the trained `PooledTextClassifier`, on an adapted clone of
            the backbone `fingerprint` describes.
        data: the `TextClassificationData` it was trained on.
        preprocessor: the matching tokenizer/packer.
        fingerprint: `backbone_fingerprint` of the pristine base backbone.
        best_epoch: 1-based epoch the weights come from.
        history: list of per-epoch log dicts, each with its 1-based `epoch`.
        started: `time.perf_counter()` at the start (default: now).
        wall_time_seconds: extra timings to record in `metrics.json`.
        extra_info: extra entries for `run.json` (e.g. the search).
        directory: where to write the files instead, for a caller that
            switches a larger directory in as a whole (`tune` writes `best/`
            inside its search this way); `run.json` still records
            `config.output_dir`. Default: `config.output_dir`, written under a
            temporary name and switched in when complete, so an earlier run
            there (replaced only with `config.overwrite`) stays intact until
            then.

    Returns:
        The metrics dict written to `metrics.json`.

    Raises:
        RunError: if `config.output_dir` holds something keras-adapters did
            not write, or a run and `config.overwrite` is False.

    Example (re-publish a trained run's model under another directory):

    >>> import contextlib, io, os, tempfile
    >>> work = tempfile.mkdtemp()
    >>> with open(os.path.join(work, "reviews.csv"), "w") as f:
    ...     _ = f.write("text,label\\n")
    ...     for i in range(12):
    ...         _ = f.write(f"a great film number {i},good\\na dull mess number {i},bad\\n")
    >>> config = TrainConfig(output_dir=os.path.join(work, "run"),
    ...                      dataset="csv:" + os.path.join(work, "reviews.csv"),
    ...                      epochs=1, batch_size=8, sequence_length=8, bottleneck_size=4)
    >>> with contextlib.redirect_stdout(io.StringIO()):  # Keras progress bars
    ...     metrics = train_text_classifier(config, log=lambda message: None)
    >>> import dataclasses
    >>> from keras_adapters.pretrained import backbone_fingerprint, load_backbone
    >>> run = load_run(config.output_dir)
    >>> copy = dataclasses.replace(config, output_dir=os.path.join(work, "copy"))
    >>> _ = write_run_directory(
    ...     copy, run.model, copy.load_data(), run.preprocessor,
    ...     backbone_fingerprint(load_backbone(copy.preset)), best_epoch=1, history=[])
    >>> load_run(copy.output_dir).label_names
    ['bad', 'good']
    """
    started = time.perf_counter() if started is None else started
    if directory is None:
        output_dir = prepare_output_dir(config.output_dir, config.overwrite)
        with atomic_directory(output_dir, overwrite=True) as run_dir:
            return write_run_directory(
                config, model, data, preprocessor, fingerprint, best_epoch=best_epoch,
                history=history, started=started, wall_time_seconds=wall_time_seconds,
                extra_info=extra_info, directory=run_dir,
            )
    os.makedirs(directory, exist_ok=True)
    adapted = model.backbone
    name = adapted.trainable_adapters[0] if adapted.trainable_adapters else adapted.adapter_names[-1]
    adapter_config = adapted.get_adapter_config(name)
    info = _run_info(config, adapter_config, data, fingerprint, model)
    info.update(extra_info or {})
    _write_json(os.path.join(directory, RUN_FILE), info)
    best = next((record for record in history if record.get("epoch") == best_epoch), {})
    val_accuracy = best.get("val_accuracy")
    save_adapters(
        model,
        os.path.join(directory, ADAPTER_DIR),
        name=name,
        overwrite=True,
        metadata=_checkpoint_metadata(data, best_epoch, val_accuracy),
    )
    return _write_run_metrics(
        directory,
        model,
        data,
        preprocessor,
        best_epoch=best_epoch,
        history=history,
        started=started,
        wall_time_seconds=wall_time_seconds or {},
    )


def _versions():
    import keras_hub
    import tensorflow as tf

    import keras_adapters

    return {
        "keras_adapters": keras_adapters.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "tensorflow": tf.__version__,
    }


@dataclasses.dataclass
class LoadedRun:
    """A trained classifier rebuilt from a run directory.

    Attributes:
        model: the `PooledTextClassifier` with the run's best adapter.
        preprocessor: the preset's tokenizer/packer at the run's length.
        label_names: class names, index-aligned with the logits.
        info: the parsed `run.json`.
    """

    model: keras.Model
    preprocessor: object
    label_names: list
    info: dict

    def predict_texts(self, texts, batch_size=64):
        """Returns `(label_names, probabilities)` for raw texts.

        Args:
            texts: list of strings, or of `(text_a, text_b)` pairs for a
                sentence-pair run.
        """
        if self.info.get("text_pair"):
            inputs = (
                np.array([pair[0] for pair in texts], dtype=object),
                np.array([pair[1] for pair in texts], dtype=object),
            )
        else:
            inputs = np.array(list(texts), dtype=object)
        logits = []
        for start in range(0, len(texts), batch_size):
            chunk = (
                tuple(part[start : start + batch_size] for part in inputs)
                if isinstance(inputs, tuple)
                else inputs[start : start + batch_size]
            )
            logits.append(self.model.predict_on_batch(self.preprocessor(chunk)))
        logits = np.concatenate(logits)
        probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
        return [self.label_names[i] for i in probabilities.argmax(-1)], probabilities

    def evaluate(self, dataset, batch_size=64):
        """Metrics of the model on a `(text, label)` tf.data dataset."""
        labels, logits = _labels_and_logits(
            self.model, tokenized(dataset, self.preprocessor, batch_size)
        )
        return classification_metrics(labels, logits, self.label_names)


def load_run(run_dir):
    """Rebuilds the classifier of a run directory on its base backbone.

    The base backbone is loaded from the run's preset and must be the one the
    run trained on (same config and weights, checked by fingerprint).

    Args:
        run_dir: a directory written by `train_text_classifier` (or
            `write_run_directory`).

    Returns:
        A `LoadedRun`: the classifier, its preprocessor and label names.

    Raises:
        RunError: if the directory is not a complete run, `run.json` is
            invalid, the base backbone differs from the one trained on, or
            `run.json` disagrees with the adapter file on a field both
            record (label names, number of classes, pooling, head dropout,
            adapter config, backbone class).
        KerasAdaptersError: if the adapter files fail verification (see
            `keras_adapters.saving.read_adapter_weights`).

    Example (train a tiny run first, as in `train_text_classifier`):

    >>> import contextlib, io, os, tempfile
    >>> work = tempfile.mkdtemp()
    >>> with open(os.path.join(work, "reviews.csv"), "w") as f:
    ...     _ = f.write("text,label\\n")
    ...     for i in range(12):
    ...         _ = f.write(f"a great film number {i},good\\na dull mess number {i},bad\\n")
    >>> config = TrainConfig(output_dir=os.path.join(work, "run"),
    ...                      dataset="csv:" + os.path.join(work, "reviews.csv"),
    ...                      epochs=1, batch_size=8, sequence_length=8, bottleneck_size=4)
    >>> with contextlib.redirect_stdout(io.StringIO()):  # Keras progress bars
    ...     metrics = train_text_classifier(config, log=lambda message: None)
    >>> run = load_run(config.output_dir)
    >>> run.label_names
    ['bad', 'good']
    >>> labels, probabilities = run.predict_texts(["a great film number 3"])
    >>> probabilities.shape
    (1, 2)
    """
    run_file = os.path.join(run_dir, RUN_FILE)
    adapter_dir = os.path.join(run_dir, ADAPTER_DIR)
    if not os.path.isfile(run_file):
        raise RunError(
            f"{run_dir!r} is not a keras-adapters run directory (no {RUN_FILE}). "
            "Pass the --output-dir of a `keras-adapters train` run."
        )
    try:
        info = read_json_object(run_file, "Run file")
    except KerasAdaptersError as e:
        raise RunError(str(e)) from None
    if info.get("format") != RUN_FORMAT:
        raise RunError(f"{run_file} is not a keras-adapters run file.")
    _check_run_fields(info, run_file)
    if not os.path.isdir(adapter_dir):
        raise RunError(
            f"{run_dir!r} has no {ADAPTER_DIR}/ checkpoint: its training stopped "
            "before the first epoch finished. Train again."
        )
    config = info["config"]
    # Before loading the backbone: bad files are found in milliseconds.
    document = read_adapter_file(adapter_dir)
    _check_run_agrees_with_adapter(info, document, run_file, adapter_dir)
    read_adapter_weights(adapter_dir, document)
    backbone = load_backbone(config["preset"])
    if backbone_fingerprint(backbone) != info["backbone_fingerprint"]:
        raise RunError(
            f"The backbone loaded from preset {config['preset']!r} is not the one this "
            "run was trained on (its config or weights differ), so the adapters "
            "would not fit it. Restore that preset's files."
        )
    model = _build_classifier(
        backbone,
        len(info["label_names"]),
        document["adapter_config"],
        config["pooling"],
        config["head_dropout"],
        name=document["adapter_name"],
    )
    load_adapters(model, adapter_dir)
    preprocessor = load_preprocessor(config["preset"], config["sequence_length"])
    return LoadedRun(model, preprocessor, list(info["label_names"]), info)


# Fields of `run.json` that `load_run` reads, and their JSON types.
_RUN_FIELDS = {"config": dict, "label_names": list, "backbone_fingerprint": str}
_RUN_CONFIG_FIELDS = {"preset": str, "pooling": str, "head_dropout": (int, float), "sequence_length": int}


def _check_run_fields(info, run_file):
    """Raises RunError if `run.json` lacks a field `load_run` needs."""
    problems = [
        f"`{field}` must be a JSON {kind.__name__}" for field, kind in _RUN_FIELDS.items()
        if not isinstance(info.get(field), kind)
    ]
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    problems += [
        f"`config.{field}` is missing or has the wrong type" for field, kind in _RUN_CONFIG_FIELDS.items()
        if not isinstance(config.get(field), kind) or isinstance(config.get(field), bool)
    ]
    labels = info.get("label_names")
    if isinstance(labels, list) and not all(isinstance(label, str) for label in labels):
        problems.append("`label_names` must be a list of strings")
    if problems:
        raise RunError(
            f"Run file {run_file!r} is damaged or was edited: {'; '.join(problems)}. "
            "Restore it from a copy, or train again."
        )


def _check_run_agrees_with_adapter(info, document, run_file, adapter_dir):
    """Raises RunError where `run.json` and the adapter file record different values.

    Both files record the label names, the head and the adapter config; the
    adapter file's weights are digest-checked, so an edit to either file
    (which would change every prediction) is refused rather than used.
    """
    adapter_file = os.path.join(adapter_dir, "adapter_config.json")
    task = document.get("task") or {}
    head = task.get("config") if isinstance(task.get("config"), dict) else {}
    config = info["config"]
    pairs = [
        ("label_names", info["label_names"], document["metadata"].get("label_names")),
        ("number of classes", len(info["label_names"]), head.get("num_classes")),
        ("pooling", config["pooling"], head.get("pooling")),
        ("head_dropout", config["head_dropout"], head.get("dropout")),
        ("backbone class", info.get("backbone_class"), document["backbone"].get("class")),
    ]
    try:
        run_adapter = AdapterConfig.from_dict(info.get("adapter_config"))
    except KerasAdaptersError as e:
        raise RunError(f"Run file {run_file!r} has an invalid adapter_config: {e}") from None
    pairs.append(("adapter_config", run_adapter.to_dict(), document["adapter_config"].to_dict()))
    for field, in_run, in_adapter in pairs:
        # A field one file does not record (older files) cannot disagree.
        if in_run is not None and in_adapter is not None and in_run != in_adapter:
            raise RunError(
                f"{run_file!r} and {adapter_file!r} disagree on {field}: the run file has "
                f"{in_run!r}, the adapter file {in_adapter!r}. One of them was edited or "
                "comes from another run; predictions would be wrong, so nothing was loaded. "
                "Restore the run directory from a copy, or train again."
            )
