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

import dataclasses
import json
import os
import shutil
import time

import keras
import numpy as np

from keras_adapters.config import AdapterConfig
from keras_adapters.data import load_dataset
from keras_adapters.pretrained import (
    DEFAULT_PRESET,
    backbone_fingerprint,
    load_backbone,
    load_preprocessor,
)
from keras_adapters.saving import load_adapters, read_adapter_file, save_adapters
from keras_adapters.surgery import add_adapters
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training.callbacks import BestAdapterCheckpoint, TrainingLog
from keras_adapters.training.metrics import classification_metrics
from keras_adapters.training.schedules import WarmupLinearDecay
from keras_adapters.utils.atomic import atomic_file
from keras_adapters.utils.parameters import count_parameters

RUN_FILE = "run.json"
ADAPTER_DIR = "adapter"
METRICS_FILE = "metrics.json"
CURVE_FILE = "training_curve.png"
RUN_FORMAT = "keras-adapters/text-classification-run"


class RunError(ValueError):
    """A run directory that cannot be written or read."""


class TrainingInterrupted(Exception):
    """Training was interrupted (Ctrl-C); the best checkpoint so far is kept.

    Attributes:
        checkpoint: path of the last good checkpoint, or None.
        epoch: its epoch (1-based), or None.
    """

    def __init__(self, checkpoint, epoch):
        self.checkpoint = checkpoint
        self.epoch = epoch
        where = (
            f"the last good checkpoint (epoch {epoch}) is intact at {checkpoint}"
            if checkpoint
            else "no epoch had finished, so no checkpoint was written"
        )
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
    ValueError: `batch_size` must be a positive integer; got 0.
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
        """Raises ValueError naming the first invalid setting."""
        def positive(name):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")

        for name in ("epochs", "batch_size", "sequence_length"):
            positive(name)
        if self.max_train_examples is not None:
            positive("max_train_examples")
        if not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive; got {self.learning_rate!r}.")
        if self.schedule not in ("linear", "constant"):
            raise ValueError(f"`schedule` must be 'linear' or 'constant'; got {self.schedule!r}.")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"`warmup_fraction` must be in [0, 1); got {self.warmup_fraction!r}.")
        if self.sequence_length < 8:
            raise ValueError(f"`sequence_length` must be at least 8; got {self.sequence_length}.")


def prepare_output_dir(path, overwrite, markers=(RUN_FILE, ADAPTER_DIR), kind="run"):
    """Makes `path` ready for a new run (or search) of keras-adapters.

    An empty or missing directory is fine. A directory holding any of
    `markers` holds an earlier `kind` and is replaced only with `overwrite`;
    any other non-empty directory is refused, so user files are never deleted.

    Args:
        path: the directory.
        overwrite: whether an earlier `kind` there may be replaced.
        markers: file or folder names that identify an earlier `kind`.
        kind: what the directory holds, for messages ("run", "search").

    Returns:
        None. Afterwards `path` exists and is empty.

    Raises:
        RunError: if `path` is a file, holds something else, or holds an
            earlier `kind` and `overwrite` is False.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "run")
    >>> prepare_output_dir(path, overwrite=False)
    >>> open(os.path.join(path, "notes.txt"), "w").close()
    >>> prepare_output_dir(path, overwrite=True)
    Traceback (most recent call last):
    ...
    keras_adapters.training.text_classification.RunError: Output directory ... is not empty and holds no keras-adapters run; refusing to write into it. Choose a new or empty directory.
    """
    if os.path.isfile(path):
        raise RunError(f"Output directory {path!r} is a file. Choose a directory path.")
    if os.path.isdir(path) and os.listdir(path):
        if not any(os.path.exists(os.path.join(path, marker)) for marker in markers):
            raise RunError(
                f"Output directory {path!r} is not empty and holds no keras-adapters "
                f"{kind}; refusing to write into it. Choose a new or empty directory."
            )
        if not overwrite:
            raise RunError(
                f"Output directory {path!r} already holds a {kind}. Pass --overwrite "
                "(overwrite=True) to replace it, or choose another --output-dir."
            )
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)


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
        TrainingInterrupted: on Ctrl-C, after keeping the best checkpoint.

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
    prepare_output_dir(config.output_dir, config.overwrite)
    keras.utils.set_random_seed(config.seed)

    backbone = load_backbone(config.preset)
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
        + f"; labels {data.label_names}"
    )

    steps_per_epoch = -(-data.num_examples["train"] // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.schedule == "linear":
        learning_rate = WarmupLinearDecay(
            config.learning_rate, total_steps, int(config.warmup_fraction * total_steps)
        )
    else:
        learning_rate = config.learning_rate
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )

    _write_json(
        os.path.join(config.output_dir, RUN_FILE),
        _run_info(config, adapter_config, data, fingerprint, model),
    )

    checkpoint_dir = os.path.join(config.output_dir, ADAPTER_DIR)

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
        raise TrainingInterrupted(
            checkpoint_dir if checkpoint.best_epoch else None, checkpoint.best_epoch
        ) from None
    training_seconds = time.perf_counter() - train_started

    # Evaluate the best epoch, as saved: reload it, which also proves the
    # files restore the model.
    load_adapters(model, checkpoint_dir)
    step_seconds = training_log.step_seconds[1:] or training_log.step_seconds
    metrics = _write_run_metrics(
        config.output_dir,
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
    _plot_curves(os.path.join(config.output_dir, CURVE_FILE), training_log)
    return metrics


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
    _write_json(os.path.join(output_dir, METRICS_FILE), metrics)
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

    Returns:
        The metrics dict written to `metrics.json`.

    Raises:
        RunError: if `config.output_dir` holds something else, or a run and
            `config.overwrite` is False.

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
    prepare_output_dir(config.output_dir, config.overwrite)
    adapted = model.backbone
    name = adapted.trainable_adapters[0] if adapted.trainable_adapters else adapted.adapter_names[-1]
    adapter_config = adapted.get_adapter_config(name)
    info = _run_info(config, adapter_config, data, fingerprint, model)
    info.update(extra_info or {})
    _write_json(os.path.join(config.output_dir, RUN_FILE), info)
    best = next((record for record in history if record.get("epoch") == best_epoch), {})
    val_accuracy = best.get("val_accuracy")
    save_adapters(
        model,
        os.path.join(config.output_dir, ADAPTER_DIR),
        name=name,
        overwrite=True,
        metadata=_checkpoint_metadata(data, best_epoch, val_accuracy),
    )
    return _write_run_metrics(
        config.output_dir,
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
        RunError: if the directory is not a complete run, or the base
            backbone differs from the one trained on.

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
    with open(run_file, encoding="utf-8") as f:
        info = json.load(f)
    if info.get("format") != RUN_FORMAT:
        raise RunError(f"{run_file} is not a keras-adapters run file.")
    if not os.path.isdir(adapter_dir):
        raise RunError(
            f"{run_dir!r} has no {ADAPTER_DIR}/ checkpoint: its training stopped "
            "before the first epoch finished. Train again."
        )
    config = info["config"]
    backbone = load_backbone(config["preset"])
    if backbone_fingerprint(backbone) != info["backbone_fingerprint"]:
        raise RunError(
            f"The backbone loaded from preset {config['preset']!r} is not the one this "
            "run was trained on (its config or weights differ), so the adapters "
            "would not fit it. Restore that preset's files."
        )
    document = read_adapter_file(adapter_dir)
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
