"""Reading a run directory back: `load_run` and `LoadedRun`.

The classifier is rebuilt on the run's base backbone, after checking that
the backbone is the one trained on (fingerprint), that the weights file is
intact, and that `run.json` agrees with the adapter file.
"""

import dataclasses
import os

import keras
import numpy as np

from keras_adapters.config import AdapterConfig, read_json_object
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.pretrained import backbone_fingerprint, load_backbone, load_preprocessor
from keras_adapters.saving import load_adapters, read_adapter_file, read_adapter_weights
from keras_adapters.training.metrics import classification_metrics
from keras_adapters.training.output_dir import RunError
from keras_adapters.training.pipeline import labels_and_logits, tokenized
from keras_adapters.training.run_directory import ADAPTER_DIR, RUN_FILE, RUN_FORMAT
from keras_adapters.training.trainer import build_classifier

__all__ = ["LoadedRun", "load_run", "run_task"]


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
        labels, logits = labels_and_logits(
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
        A `LoadedRun`: the classifier, its preprocessor and label names; for
        a `--task question-answering` run, a
        `keras_adapters.training.qa_run.LoadedQuestionAnswerer`; for a
        `--task seq2seq` run (its record is `metrics.json`), a
        `keras_adapters.training.seq2seq_run.LoadedSeq2Seq`.

    Raises:
        RunError: if the directory is not a complete run, `run.json` is
            invalid, the base backbone differs from the one trained on, or
            `run.json` disagrees with the adapter file on a field both
            record (label names, number of classes, pooling, head dropout,
            adapter config, backbone class).
        KerasAdaptersError: if the adapter files fail verification (see
            `keras_adapters.saving.read_adapter_weights`).

    Example (`train_text_classifier`'s example trains a run; on its
    `config.output_dir`, `load_run(...).predict_texts(["a great film"])`
    returns the labels and probabilities). A folder that holds no run is
    refused with a message saying what to pass:

    >>> import tempfile
    >>> from keras_adapters.training import load_run
    >>> load_run(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    keras_adapters.training.output_dir.RunError: ... is not a keras-adapters run directory (no run.json). Pass the --output-dir of a `keras-adapters train` run.
    """
    run_file = os.path.join(run_dir, RUN_FILE)
    adapter_dir = os.path.join(run_dir, ADAPTER_DIR)
    if not os.path.isfile(run_file):
        seq2seq = _seq2seq_record(run_dir)
        if seq2seq is not None:
            from keras_adapters.training.seq2seq_run import load_seq2seq_run

            return load_seq2seq_run(run_dir, seq2seq)
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
    if info.get("task") == "question-answering":
        from keras_adapters.training.qa_run import load_question_answerer

        return load_question_answerer(run_dir, info)
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
    model = build_classifier(
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


def run_task(run_dir):
    """The task of the run in `run_dir`, read from its record alone (nothing is built).

    Lets a command refuse options meant for another task in milliseconds,
    before `load_run` builds the model.

    Args:
        run_dir: a run directory.

    Returns:
        `"text-classification"`, `"question-answering"` or `"seq2seq"`; None
        where `run_dir` holds no readable run record (`load_run` then says
        what is wrong).

    Example:

    >>> import tempfile
    >>> from keras_adapters.training.loaded_run import run_task
    >>> run_task(tempfile.mkdtemp()) is None
    True
    """
    run_file = os.path.join(run_dir, RUN_FILE)
    try:
        if os.path.isfile(run_file):
            task = read_json_object(run_file, "Run file").get("task")
            return task if isinstance(task, str) and task else "text-classification"
        return None if _seq2seq_record(run_dir) is None else "seq2seq"
    except (KerasAdaptersError, OSError):
        return None


def _seq2seq_record(run_dir):
    """The parsed `metrics.json` of a seq2seq run directory, or None for any other folder.

    A seq2seq run has no `run.json`: its record is `metrics.json`, marked by
    its format.

    Raises:
        RunError: if `metrics.json` exists but cannot be read as JSON.
    """
    from keras_adapters.training.seq2seq import METRICS_FILE, SEQ2SEQ_RUN_FORMAT

    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.isfile(path):
        return None
    try:
        record = read_json_object(path, "Metrics file")
    except KerasAdaptersError as e:
        raise RunError(str(e)) from None
    return record if record.get("format") == SEQ2SEQ_RUN_FORMAT else None


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
