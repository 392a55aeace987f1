"""`train_text_classifier`: what `keras-adapters train` runs.

Load a pretrained backbone and its tokenizer, add adapters, train with the
tasks' recipe (AdamW, warm-up and linear decay), keep the best epoch on
validation, test it, and write a run directory
(`keras_adapters.training.run_directory`).
"""

import os
import shutil
import tempfile
import time

import keras
import numpy as np

from keras_adapters.data.loading import describe_labels
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.pretrained import backbone_fingerprint, load_backbone, load_preprocessor
from keras_adapters.saving import load_adapters, read_adapter_file, save_adapters
from keras_adapters.surgery import add_adapters
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training.callbacks import BestAdapterCheckpoint, TrainingLog
from keras_adapters.training.compilation import resolve_jit_compile
from keras_adapters.training.distribution import training_distribution
from keras_adapters.training.frozen_prefix import disable_prefix_dropout
from keras_adapters.training.output_dir import holds_entries, prepare_output_dir
from keras_adapters.training.pipeline import tokenized
from keras_adapters.training.plots import plot_training_curves
from keras_adapters.training.prefix_cache import cache_frozen_prefix
from keras_adapters.training.prefix_store import RUN_CACHE_DIR
from keras_adapters.training.run_directory import (
    ADAPTER_DIR,
    CURVE_FILE,
    RUN_FILE,
    RUN_LAYOUT,
    checkpoint_metadata,
    run_record,
    write_run_metrics,
)
from keras_adapters.utils.atomic import atomic_directory, atomic_write_json
from keras_adapters.utils.parameters import count_parameters

__all__ = ["TrainingInterrupted", "check_model_options", "train_text_classifier"]


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


def build_classifier(backbone, num_classes, adapter_config, pooling, head_dropout, name="default"):
    """Adds adapters to `backbone` and puts a `PooledTextClassifier` on top."""
    adapted = add_adapters(backbone, adapter_config, name=name)
    return PooledTextClassifier(adapted, num_classes, pooling=pooling, dropout=head_dropout)


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
    >>> from keras_adapters.training import TrainConfig, check_model_options
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

    A config with `task="question-answering"` runs
    `keras_adapters.training.question_answering.train_question_answerer`.

    Args:
        config: a `TrainConfig`.
        log: callable taking one message string (the CLI passes a rich
            console printer).

    Returns:
        The metrics dict written to `metrics.json`; None in the processes
        other than 0 of a `data-parallel` run (they write nothing).

    Raises:
        ValueError: for invalid settings, data or presets (subclasses carry
            the details: `DataError`, `PresetError`, `RunError`).
        TrainingInterrupted: on Ctrl-C. A new run directory keeps the best
            checkpoint saved so far; an earlier run being overwritten is
            left unchanged (it is replaced only by a finished run).

    Example (the real MiniLM on a tiny CSV file, one epoch):

    >>> import contextlib, io, os, tempfile
    >>> from keras_adapters.training import TrainConfig, load_run, train_text_classifier
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
    >>> labels, probabilities = load_run(config.output_dir).predict_texts(["a great film"])
    >>> labels[0] in ("bad", "good"), probabilities.shape
    (True, (1, 2))
    """
    if config.task == "question-answering":
        from keras_adapters.training.question_answering import train_question_answerer

        return train_question_answerer(config, log)
    if config.task == "seq2seq":
        from keras_adapters.training.seq2seq import train_seq2seq

        return train_seq2seq(config, log)
    started = time.perf_counter()
    config.validate()
    adapter_config = config.adapter_config()  # with --bottleneck and --layers applied
    data = config.load_data()
    distribution = training_distribution(config)  # data-parallel: joins the other processes
    # Process 0 alone writes the run; the others train along and write nothing.
    output_dir = (prepare_output_dir(config.output_dir, config.overwrite, RUN_LAYOUT)
                  if distribution.is_writer else os.path.realpath(config.output_dir))
    keras.utils.set_random_seed(config.seed)
    if distribution.mode != "none":
        log(distribution.describe(config.batch_size))
    # Every variable (backbone, adapted clone, optimizer) is created under the strategy.
    with distribution.scope():
        backbone = load_backbone(config.preset)
        check_model_options(config, backbone)
        fingerprint = backbone_fingerprint(backbone)
        preprocessor = load_preprocessor(config.preset, config.sequence_length)
        model = build_classifier(
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
            jit_compile=resolve_jit_compile(config.jit_compile, distribution.strategy, total_steps),
        )

    # Checked before anything is written: refuses when there is no frozen prefix.
    trainer = _frozen_prefix_trainer(model, config, log) if config.cache_frozen_prefix else model

    # Written under a temporary name and switched in when complete: an earlier
    # run in `output_dir` stays intact until then. On Ctrl-C a new run
    # directory keeps its checkpoint (TrainingInterrupted with a checkpoint).
    writing = atomic_directory(
        output_dir,
        overwrite=True,
        keep_unfinished=lambda error: getattr(error, "checkpoint", None) is not None,
    ) if distribution.is_writer else tempfile.TemporaryDirectory()
    with writing as run_dir:
        atomic_write_json(
            os.path.join(run_dir, RUN_FILE),
            run_record(config, adapter_config, data, fingerprint, model),
        )

        checkpoint_dir = os.path.join(run_dir, ADAPTER_DIR)

        def save_checkpoint(epoch, logs):
            save_adapters(
                model,
                checkpoint_dir,
                overwrite=True,
                metadata=checkpoint_metadata(data, epoch, logs.get("val_accuracy")),
            )

        checkpoint = BestAdapterCheckpoint(save_checkpoint, monitor="val_accuracy")
        training_log = TrainingLog()
        # The cache shuffles its examples itself and keys them by their order.
        shuffle_seed = None if trainer is not model else config.seed
        train_ds = distribution.dataset(tokenized(
            distribution.shard(data.train, data.num_examples["train"]), preprocessor,
            distribution.local_batch(config.batch_size), shuffle_seed=shuffle_seed,
        ))
        validation_batch = distribution.evaluation_batch_size(
            data.num_examples["validation"], config.batch_size
        )
        validation_ds = distribution.dataset(tokenized(
            distribution.shard(data.validation, data.num_examples["validation"]), preprocessor,
            distribution.local_batch(validation_batch),
        ))
        if trainer is not model:
            # Used only by a cache too large for memory; removed after training.
            trainer.cache_dir = os.path.join(run_dir, RUN_CACHE_DIR)
        train_started = time.perf_counter()
        try:
            trainer.fit(
                train_ds,
                validation_data=validation_ds,
                epochs=config.epochs,
                callbacks=[checkpoint, training_log],
                verbose=1,
            )
        except KeyboardInterrupt:
            raise _interrupted(output_dir, checkpoint_dir) from None
        finally:
            if trainer is not model:
                shutil.rmtree(trainer.cache_dir, ignore_errors=True)
        training_seconds = time.perf_counter() - train_started
        if not distribution.is_writer:
            return None  # process 0 evaluates and writes the run
        if trainer is not model:
            cache = trainer.last_cache
            log(f"Frozen-prefix cache: {cache.nbytes / 1e6:,.1f} MB in {cache.location} ({cache.source})")

        # Evaluate the best epoch, as saved: reload it, which also proves the
        # files restore the model.
        if distribution.mode != "none":
            # On one device: Keras 3.15's `predict_on_batch` under a strategy
            # returns each replica's outputs for the whole batch, and under
            # DataParallel every process would have to take part.
            keras.distribution.set_distribution(None)
            model = build_classifier(
                load_backbone(config.preset), len(data.label_names), adapter_config,
                config.pooling, config.head_dropout,
            )
        load_adapters(model, checkpoint_dir)
        step_seconds = training_log.step_seconds[1:] or training_log.step_seconds
        metrics = write_run_metrics(
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
        plot_training_curves(os.path.join(run_dir, CURVE_FILE), training_log)
        # Again before replacing: files may have appeared there meanwhile.
        prepare_output_dir(output_dir, config.overwrite, RUN_LAYOUT)
    return metrics


def _frozen_prefix_trainer(model, config, log):
    """`--cache-frozen-prefix`: the model's frozen prefix without dropout, behind a cache.

    Raises:
        KerasAdaptersError: when no frozen prefix exists (`--layers` must
            leave the lower blocks without adapters).
    """
    disable_prefix_dropout(model)
    trainer = cache_frozen_prefix(model, seed=config.seed)
    log(
        f"Frozen-prefix cache: the embeddings and blocks 0-{trainer.split.block - 1} run once "
        f"(without dropout); training runs block {trainer.split.block} and above."
    )
    return trainer


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
    if holds_entries(output_dir):
        return TrainingInterrupted(None, None, kept_run=output_dir)
    if epoch is None:
        return TrainingInterrupted(None, None)
    return TrainingInterrupted(os.path.join(output_dir, ADAPTER_DIR), epoch)
