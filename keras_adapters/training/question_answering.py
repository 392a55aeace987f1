"""`train_question_answerer`: what `keras-adapters train --task question-answering` runs.

Load the pretrained backbone and its WordPiece tokenizer, add adapters, put
a `SpanQuestionAnswerer` on top, encode the examples into windows
(`keras_adapters.data.qa_encoding`), fit with the tasks' recipe, score
SQuAD exact match and token F1 on the validation examples after every epoch
(decoding over all windows of each example), keep the epoch with the best
validation F1, and write the run directory of every `train` run:
`run.json` (with `"task": "question-answering"`), `adapter/`, `metrics.json`
(`exact_match`, `f1` per split) and `training_curve.png`.
"""

import dataclasses
import os
import time

import keras
import numpy as np

from keras_adapters.data.qa_encoding import decode_answers, encode_qa
from keras_adapters.data.question_answering import load_qa_dataset
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.pretrained import (
    backbone_fingerprint,
    load_backbone,
    load_preprocessor,
)
from keras_adapters.saving import load_adapters, save_adapters
from keras_adapters.surgery import add_adapters
from keras_adapters.tasks import SpanQuestionAnswerer
from keras_adapters.training.callbacks import BestAdapterCheckpoint, TrainingLog
from keras_adapters.training.compilation import resolve_jit_compile
from keras_adapters.training.output_dir import prepare_output_dir
from keras_adapters.training.plots import plot_training_curves
from keras_adapters.training.qa_metrics import squad_scores
from keras_adapters.training.run_directory import (
    ADAPTER_DIR,
    CURVE_FILE,
    METRICS_FILE,
    RUN_FILE,
    RUN_FORMAT,
    RUN_LAYOUT,
    library_versions,
)
from keras_adapters.utils.atomic import atomic_directory, atomic_write_json
from keras_adapters.utils.parameters import count_parameters

__all__ = ["QA_TASK", "answer_questions", "build_question_answerer", "score_examples",
           "train_question_answerer"]

#: The `task` of `TrainConfig` and `run.json` for question answering.
QA_TASK = "question-answering"
#: Longest answer decoded, in word pieces (SQuAD answers are short).
MAX_ANSWER_TOKENS = 30


def build_question_answerer(backbone, adapter_config, head_dropout, name="default"):
    """Adds adapters to `backbone` and puts a `SpanQuestionAnswerer` on top.

    Args:
        backbone: a plain KerasHub BERT-family backbone (it is cloned).
        adapter_config: an `AdapterConfig` or preset name.
        head_dropout: dropout before the start/end layer.
        name: the adapter's name.

    Returns:
        The `SpanQuestionAnswerer`.

    Example:

    >>> import keras_hub
    >>> from keras_adapters.training.question_answering import build_question_answerer
    >>> model = build_question_answerer(keras_hub.models.BertBackbone(
    ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=16), "pfeiffer", 0.1)
    >>> sorted(model.output), model.backbone.adapter_names
    (['end_logits', 'start_logits'], ('default',))
    """
    return SpanQuestionAnswerer(add_adapters(backbone, adapter_config, name=name), dropout=head_dropout)


def answer_questions(model, tokenizer, examples, sequence_length, batch_size=64):
    """The best answer span of each example (all its windows decoded).

    Args:
        model: a `SpanQuestionAnswerer`.
        tokenizer: its WordPiece tokenizer.
        examples: a list of `QAExample` (answers not needed).
        sequence_length: tokens per window, as trained.
        batch_size: windows per predict batch.

    Returns:
        `(answers, scores)` as `decode_answers` returns them.
    """
    encoded = encode_qa(tokenizer, examples, sequence_length)
    logits = model.predict(encoded.features, batch_size=batch_size, verbose=0)
    return decode_answers(logits["start_logits"], logits["end_logits"], encoded, examples,
                          MAX_ANSWER_TOKENS)


def score_examples(model, tokenizer, examples, sequence_length, batch_size=64):
    """SQuAD exact match and F1 of `model` on examples with gold answers.

    Args:
        model, tokenizer, examples, sequence_length, batch_size: as
            `answer_questions`.

    Returns:
        `{"exact_match", "f1", "num_examples"}` (`squad_scores`, percent).
    """
    predictions, _ = answer_questions(model, tokenizer, examples, sequence_length, batch_size)
    return squad_scores(predictions, [example.answers for example in examples])


class SquadValidation(keras.callbacks.Callback):
    """Adds `val_exact_match` and `val_f1` to the epoch logs (before checkpoints read them)."""

    def __init__(self, tokenizer, examples, sequence_length, batch_size):
        super().__init__()
        self._arguments = (tokenizer, examples, sequence_length, batch_size)

    def on_epoch_end(self, epoch, logs=None):
        scores = score_examples(self.model, *self._arguments)
        if logs is not None:
            logs["val_exact_match"], logs["val_f1"] = scores["exact_match"], scores["f1"]


def train_question_answerer(config, log=print):
    """Runs a question-answering training run and writes its directory.

    Args:
        config: a `TrainConfig` with `task="question-answering"` and a
            `jsonl:` or `squad:` dataset (see
            `keras_adapters.data.question_answering`).
        log: callable taking one message string.

    Returns:
        The metrics dict written to `metrics.json`.

    Raises:
        KerasAdaptersError: for invalid settings or data (`DataError`,
            `PresetError`, `RunError` carry the details), or a setting that
            question answering does not support (`--cache-frozen-prefix`,
            `--distribute`, `--text-pair-column`).

    Example: docs/howto/question-answering.md trains a tiny run this way
    (through `train_text_classifier`, which dispatches on `config.task`).
    """
    started = time.perf_counter()
    config.validate()
    unsupported = [flag for flag, used in (
        ("--cache-frozen-prefix", config.cache_frozen_prefix),
        ("--distribute", getattr(config, "distribute", "none") != "none"),
        ("--text-pair-column", config.text_pair_column is not None)) if used]
    if unsupported:
        raise KerasAdaptersError(f"{', '.join(unsupported)}: text classification only; leave "
                                 "them out with --task question-answering.")
    adapter_config = config.adapter_config()
    data = load_qa_dataset(config.dataset, validation=config.validation_data, test=config.test_data,
                           seed=config.seed, max_examples=config.max_train_examples)
    output_dir = prepare_output_dir(config.output_dir, config.overwrite, RUN_LAYOUT)
    keras.utils.set_random_seed(config.seed)

    # Imported here: the trainer imports this module to dispatch to it.
    from keras_adapters.training.trainer import check_model_options

    backbone = load_backbone(config.preset)
    check_model_options(config, backbone)
    fingerprint = backbone_fingerprint(backbone)
    tokenizer = load_preprocessor(config.preset, config.sequence_length).tokenizer
    model = build_question_answerer(backbone, adapter_config, config.head_dropout)
    del backbone
    log(f"Parameters: {count_parameters(model)}")
    train = encode_qa(tokenizer, data.train, config.sequence_length)
    validation = encode_qa(tokenizer, data.validation, config.sequence_length)
    log(f"Data {data.name}: " + ", ".join(f"{k} {v:,}" for k, v in data.num_examples.items())
        + f" questions; {len(train.example_index):,} training windows of {config.sequence_length} tokens")

    steps_per_epoch = -(-len(train.example_index) // config.batch_size)
    model.compile(learning_rate=config.learning_rate, weight_decay=config.weight_decay,
                  schedule=config.schedule, total_steps=steps_per_epoch * config.epochs,
                  warmup_fraction=config.warmup_fraction,
                  jit_compile=resolve_jit_compile(config.jit_compile, steps=steps_per_epoch * config.epochs))

    with atomic_directory(output_dir, overwrite=True) as run_dir:
        atomic_write_json(os.path.join(run_dir, RUN_FILE),
                          _run_record(config, adapter_config, data, fingerprint, model))
        checkpoint_dir = os.path.join(run_dir, ADAPTER_DIR)

        def save_checkpoint(epoch, logs):
            save_adapters(model, checkpoint_dir, overwrite=True, metadata={
                "task": QA_TASK, "epoch": epoch, "val_f1": float(logs["val_f1"])})

        checkpoint = BestAdapterCheckpoint(save_checkpoint, monitor="val_f1")
        training_log = TrainingLog()
        train_started = time.perf_counter()
        model.fit(
            train.features, train.labels,
            validation_data=(validation.features, validation.labels),
            batch_size=config.batch_size, epochs=config.epochs, verbose=1,
            callbacks=[SquadValidation(tokenizer, data.validation, config.sequence_length, 64),
                       checkpoint, training_log],
        )
        training_seconds = time.perf_counter() - train_started
        load_adapters(model, checkpoint_dir)  # the best epoch, as saved
        evaluation_started = time.perf_counter()
        results = {split: score_examples(model, tokenizer, examples, config.sequence_length)
                   for split, examples in (("validation", data.validation), ("test", data.test))
                   if examples is not None}
        step_seconds = training_log.step_seconds[1:] or training_log.step_seconds
        parameters = count_parameters(model)
        metrics = {
            **results,
            "best_epoch": checkpoint.best_epoch,
            "history": training_log.epochs,
            "wall_time_seconds": {
                "total": time.perf_counter() - started,
                "training": training_seconds,
                "median_step": float(np.median(step_seconds)) if step_seconds else None,
                "evaluation": time.perf_counter() - evaluation_started,
            },
            "parameters": {
                "trainable": parameters.trainable,
                "total": parameters.total,
                "trainable_share": parameters.trainable_share,
                "adapter_files_bytes": sum(os.path.getsize(os.path.join(checkpoint_dir, name))
                                           for name in os.listdir(checkpoint_dir)),
            },
        }
        atomic_write_json(os.path.join(run_dir, METRICS_FILE), metrics)
        plot_training_curves(os.path.join(run_dir, CURVE_FILE), training_log)
        prepare_output_dir(output_dir, config.overwrite, RUN_LAYOUT)
    return metrics


def _run_record(config, adapter_config, data, fingerprint, model):
    return {
        "format": RUN_FORMAT,
        "format_version": 1,
        "task": QA_TASK,
        "config": dataclasses.asdict(config),
        "adapter_config": adapter_config.to_dict(),
        "num_examples": dict(data.num_examples),
        "max_answer_tokens": MAX_ANSWER_TOKENS,
        "backbone_fingerprint": fingerprint,
        "backbone_class": type(model.backbone).keras_hub_class.__name__,
        "versions": library_versions(),
    }
