"""The run-directory format, and writing one.

A run directory holds:

    run.json                 what was run: preset, data, settings, labels, backend
    adapter/                 adapter + head weights of the best epoch
                             (`save_adapters` format, written atomically)
    metrics.json             test/validation metrics, history, timings, sizes
    training_curve.png       training loss per step, validation per epoch

`keras_adapters.training.train_text_classifier` writes one;
`write_run_directory` writes the same layout (minus the curve) for a model
trained elsewhere, e.g. the best trial of `keras-adapters tune`;
`keras_adapters.training.load_run` reads one back.
"""

import dataclasses
import json
import os
import time

import keras

from keras_adapters.saving import save_adapters
from keras_adapters.training.metrics import CONFUSION_MATRIX_MAX_CLASSES, classification_metrics
from keras_adapters.training.output_dir import OutputLayout, prepare_output_dir
from keras_adapters.training.pipeline import labels_and_logits, tokenized
from keras_adapters.utils.atomic import atomic_directory, atomic_file, atomic_write_json
from keras_adapters.utils.parameters import count_parameters

__all__ = [
    "ADAPTER_DIR",
    "CURVE_FILE",
    "METRICS_FILE",
    "RUN_FILE",
    "RUN_FORMAT",
    "RUN_LAYOUT",
    "write_run_directory",
]

RUN_FILE = "run.json"


ADAPTER_DIR = "adapter"


METRICS_FILE = "metrics.json"


CURVE_FILE = "training_curve.png"


RUN_FORMAT = "keras-adapters/text-classification-run"


RUN_LAYOUT = OutputLayout(
    kind="run",
    record_file=RUN_FILE,
    is_record=lambda record: record.get("format") == RUN_FORMAT,
    entries=(RUN_FILE, ADAPTER_DIR, METRICS_FILE, CURVE_FILE),
)


def run_record(config, adapter_config, data, fingerprint, model):
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
        # The Keras backend trained on: informative only, the run loads on any.
        "backend": keras.config.backend(),
        "versions": library_versions(),
    }


def checkpoint_metadata(data, epoch, val_accuracy):
    return {
        "label_names": list(data.label_names),
        "epoch": epoch,
        "val_accuracy": float(val_accuracy if val_accuracy is not None else float("nan")),
    }


def write_run_metrics(
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
        labels, logits = labels_and_logits(model, tokenized(dataset, preprocessor, 64))
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

    Example (on a tiny random BERT preset: build the classifier as `train`
    would, train it any way you like, then publish it as a run):

    >>> import os, tempfile
    >>> import keras_hub
    >>> from keras_adapters import PooledTextClassifier, add_adapters
    >>> from keras_adapters.pretrained import backbone_fingerprint, load_backbone, load_preprocessor
    >>> from keras_adapters.training import TrainConfig, load_run, write_run_directory
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
    >>> config = TrainConfig(output_dir=os.path.join(work, "run"), preset=preset,
    ...                      dataset="csv:" + os.path.join(work, "reviews.csv"),
    ...                      sequence_length=8, bottleneck_size=4)
    >>> data, base = config.load_data(), load_backbone(config.preset)
    >>> model = PooledTextClassifier(
    ...     add_adapters(base, config.adapter, bottleneck_size=config.bottleneck_size),
    ...     len(data.label_names), pooling=config.pooling, dropout=config.head_dropout)
    >>> # ... train `model` here: `fit`, a custom loop, a keras-tuner trial ...
    >>> metrics = write_run_directory(
    ...     config, model, data, load_preprocessor(config.preset, config.sequence_length),
    ...     backbone_fingerprint(base), best_epoch=1, history=[])
    >>> validation = metrics["validation"]
    >>> sorted(os.listdir(config.output_dir)), validation["num_examples"] > 0
    (['adapter', 'metrics.json', 'run.json'], True)
    >>> labels, probabilities = load_run(config.output_dir).predict_texts(["a great film"])
    >>> labels[0] in ("bad", "good"), probabilities.shape
    (True, (1, 2))
    """
    started = time.perf_counter() if started is None else started
    if directory is None:
        output_dir = prepare_output_dir(config.output_dir, config.overwrite, RUN_LAYOUT)
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
    info = run_record(config, adapter_config, data, fingerprint, model)
    info.update(extra_info or {})
    atomic_write_json(os.path.join(directory, RUN_FILE), info)
    best = next((record for record in history if record.get("epoch") == best_epoch), {})
    val_accuracy = best.get("val_accuracy")
    save_adapters(
        model,
        os.path.join(directory, ADAPTER_DIR),
        name=name,
        overwrite=True,
        metadata=checkpoint_metadata(data, best_epoch, val_accuracy),
    )
    return write_run_metrics(
        directory,
        model,
        data,
        preprocessor,
        best_epoch=best_epoch,
        history=history,
        started=started,
        wall_time_seconds=wall_time_seconds or {},
    )


def library_versions():
    import keras_hub
    import tensorflow as tf

    import keras_adapters

    return {
        "keras_adapters": keras_adapters.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "tensorflow": tf.__version__,
    }
