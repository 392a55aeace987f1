"""`keras-adapters` with hostile input: literal output, clear errors, a quiet start."""

import errno
import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from keras_adapters.cli.main import main
from keras_adapters.training.metrics import classification_metrics

from test_cli import WORDS, _train_args, _write_csv, tiny_preset  # noqa: F401 (fixture)

CONSOLE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-adapters")
# Lines TensorFlow, absl and CUDA print on start-up.
START_UP_LOG_MARKERS = ("I0000", "W0000", "E0000", "absl::InitializeLog", "cuInit", "cuda")


# 60 classes, more than CONFUSION_MATRIX_MAX_CLASSES; "[neg]" (rich markup,
# sorts first) must print as it is.
LABELS = ["[neg]", "pos"] + [f"topic{i:02d}" for i in range(58)]


def _rows(labels=LABELS, per_label=2):
    return [
        (f"the {'movie' if i % 2 else 'film'} was {WORDS[(i + k) % len(WORDS)]}", label)
        for k, label in enumerate(labels)
        for i in range(per_label)
    ]


@pytest.fixture(scope="module")
def tricky_run(tiny_preset, tmp_path_factory):  # noqa: F811 (fixture from test_cli)
    """An untrained 60-class run whose labels and directory contain markup.

    Written by `write_run_directory` (what `tune` writes for its best trial),
    which skips `fit`: the commands only need a complete run directory.
    """
    from keras_adapters import add_adapters
    from keras_adapters.pretrained import backbone_fingerprint, load_backbone, load_preprocessor
    from keras_adapters.tasks import PooledTextClassifier
    from keras_adapters.training import TrainConfig, write_run_directory

    work = tmp_path_factory.mktemp("tricky_run")
    data_file = _write_csv(work / "topics.csv", _rows())
    config = TrainConfig(output_dir=str(work / "exp[/v2]"), preset=tiny_preset,
                         dataset=f"csv:{data_file}", sequence_length=16, bottleneck_size=2)
    backbone = load_backbone(tiny_preset)
    model = PooledTextClassifier(add_adapters(backbone, config.adapter, bottleneck_size=2),
                                 num_classes=len(LABELS))
    write_run_directory(config, model, config.load_data(), load_preprocessor(tiny_preset, 16),
                        backbone_fingerprint(backbone), best_epoch=1, history=[])
    return {"out": config.output_dir, "data": data_file}


def _quiet_env():
    """The environment of a user who set no TensorFlow log level."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def test_train_prints_output_dir_and_log_literally(tmp_path, monkeypatch):
    from keras_adapters import training

    def train(config, log):
        log("labels '[neg]', 'pos' :smile:")
        metrics = {"num_examples": 4, "accuracy": 0.5, "macro_f1": 0.5, "loss": 0.7}
        return {"validation": metrics, "best_epoch": 1, "wall_time_seconds": {"total": 1.0}}

    monkeypatch.setattr(training, "train_text_classifier", train)
    out = str(tmp_path / "runs" / "exp[/v2]")
    result = CliRunner().invoke(main, ["train", "--output-dir", out])
    assert result.exit_code == 0, result.output
    assert "labels '[neg]', 'pos' :smile:" in result.output
    assert f"Run written to {out} in 1 s" in result.output
    assert f"predict '{out}'" in result.output  # quoted for the shell


def test_train_log_summarises_many_labels(tiny_preset, tmp_path, monkeypatch):  # noqa: F811
    from keras_adapters.training import trainer

    def stop(*args, **kwargs):  # the first step after the log lines: stop there
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "tokenized", stop)
    data = _write_csv(tmp_path / "topics.csv", _rows())
    result = CliRunner().invoke(main, _train_args(tiny_preset, f"csv:{data}", tmp_path / "run"))
    assert result.exit_code == 130, result.output
    assert "labels '[neg]', 'pos', 'topic00'" in result.output
    assert "'topic07' and 50 more (60 labels)" in result.output and "topic57" not in result.output


def test_many_classes_keep_metrics_small(tricky_run):
    with open(os.path.join(tricky_run["out"], "metrics.json"), encoding="utf-8") as f:
        text = f.read()
    assert text.count("\n") == 1  # compact JSON: one line
    metrics = json.loads(text)
    assert "confusion_matrix" not in metrics["validation"]
    assert len(metrics["validation"]["per_class"]) == 60


def test_error_message_prints_user_path_literally(tmp_path):
    missing = str(tmp_path / "runs[/bold]")
    result = CliRunner().invoke(main, ["predict", missing, "text"])
    assert result.exit_code == 1, result.output
    assert f"Error: {missing!r} is not a keras-adapters run directory" in result.output


def test_evaluate_scores_a_whole_file_by_default(tricky_run):
    run, data = tricky_run["out"], tricky_run["data"]
    result = CliRunner().invoke(main, ["evaluate", run, "--dataset", f"csv:{data}"])
    assert result.exit_code == 0, result.output
    assert f"Scored 120 examples: every row of csv:{data}." in result.output
    # A split of the file is scored only when asked, and the output says so.
    result = CliRunner().invoke(main, ["evaluate", run, "--dataset", f"csv:{data}",
                                       "--split", "validation"])
    assert result.exit_code == 0, result.output
    assert "Scored 12 examples: the validation split" in result.output
    assert "train 108, validation 12; --split all scores every example" in result.output


def test_evaluation_file_uses_the_run_labels(tmp_path):
    from keras_adapters.data import DataError
    from keras_adapters.data.loading import load_labelled_file

    two = _write_csv(tmp_path / "two.csv", [("the film", "pos"), ("a movie", "[neg]")])
    scored = load_labelled_file(f"csv:{two}", LABELS)
    assert [int(label) for _, label in scored] == [1, 0]
    unknown = _write_csv(tmp_path / "unknown.csv", [("the film", "[other]")])
    with pytest.raises(DataError, match=r"not trained on: '\[other\]' on line 2"):
        load_labelled_file(f"csv:{unknown}", LABELS)


def test_sequence_length_above_the_model_maximum(tiny_preset, tmp_path):  # noqa: F811
    data = _write_csv(tmp_path / "reviews.csv", _rows(labels=("neg", "pos"), per_label=4))
    args = _train_args(tiny_preset, f"csv:{data}", tmp_path / "run")
    args[args.index("--sequence-length") + 1] = "100000"
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "Error: `sequence_length` (--sequence-length) is 100000" in result.output
    assert "takes at most 32 tokens" in result.output
    assert "Traceback" not in result.output


def test_bottleneck_wider_than_the_model(tiny_preset, tmp_path):  # noqa: F811
    data = _write_csv(tmp_path / "reviews.csv", _rows(labels=("neg", "pos"), per_label=4))
    args = _train_args(tiny_preset, f"csv:{data}", tmp_path / "run", "--bottleneck", "100000")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and "hidden size is 16" in result.output
    assert "Traceback" not in result.output


def test_confusion_matrix_only_for_few_classes():
    few = classification_metrics([0, 1, 1], [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], ["a", "b"])
    assert few["confusion_matrix"] == [[1, 0], [1, 1]]
    names = [str(i) for i in range(1000)]
    labels = list(range(0, 1000, 5))
    many = classification_metrics(labels, [[float(j == i) for j in range(1000)] for i in labels], names)
    assert "confusion_matrix" not in many
    assert many["accuracy"] == 1.0 and many["per_class"]["5"]["support"] == 1
    assert len(json.dumps(many, separators=(",", ":"))) < 100_000


def test_bug_keeps_its_traceback(monkeypatch, tmp_path):
    from keras_adapters import training

    def broken(run_dir):
        raise ValueError("an internal bug")

    monkeypatch.setattr(training, "load_run", broken)
    result = CliRunner().invoke(main, ["predict", str(tmp_path), "text"])
    assert isinstance(result.exception, ValueError)
    assert "Error: an internal bug" not in result.output


@pytest.mark.parametrize(
    "error, expected",
    [
        (PermissionError(errno.EACCES, "Permission denied", "/data/run"),
         "Error: Permission denied: '/data/run'"),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/run"),
         "Error: Read-only file system: '/mnt/ro/run'"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/data/texts"),
         "Error: Is a directory: '/data/texts'"),
    ],
)
def test_os_error_is_one_line_with_the_path(error, expected, monkeypatch, tmp_path):
    from keras_adapters import training

    def fail(run_dir):
        raise error

    monkeypatch.setattr(training, "load_run", fail)
    result = CliRunner().invoke(main, ["predict", str(tmp_path), "text"])
    assert result.exit_code == 1
    assert expected in result.output and "Traceback" not in result.output


def test_help_starts_without_the_library():
    # The command's root answers from keras_adapters_launcher alone.
    for args in (["--help"], ["--version"], ["trian"]):
        quiet = subprocess.run([CONSOLE_SCRIPT, *args], capture_output=True, text=True,
                               env=_quiet_env(), timeout=60)
        assert not any(marker in quiet.stderr for marker in START_UP_LOG_MARKERS), quiet.stderr
        timed = subprocess.run([sys.executable, "-X", "importtime", CONSOLE_SCRIPT, *args],
                               capture_output=True, text=True, env=_quiet_env(), timeout=60)
        imported = {line.rsplit("|", 1)[-1].strip() for line in timed.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "keras_adapters_launcher" in imported
        assert not {"keras_adapters", "tensorflow", "keras"} & imported, args
    assert quiet.returncode == 2 and "No such command 'trian'" in quiet.stderr
    assert "Usage: keras-adapters" in quiet.stderr


# (arguments, exit status, a line of the output) answered before a command runs.
ANSWERED_WITHOUT_TENSORFLOW = [
    *[([name, "--help"], 0, f"Usage: keras-adapters {name} ") for name in (
        "train", "tune", "predict", "evaluate", "export", "check-export")],
    (["train", "--epochs", "0"], 2, "Invalid value for '--epochs': 0 is not in the range x>=1."),
    (["train", "--layers", "top:0"], 2, "Invalid value for '--layers': Invalid layer selection"),
    (["train", "--pooling", "max"], 2, "Invalid value for '--pooling': 'max' is not one of"),
    (["tune", "--bottlenecks", "8,x"], 2, "expected a comma-separated list of int values"),
    (["evaluate", "run", "--split", "dev"], 2, "Invalid value for '--split'"),
    (["export", "run", "--name", "m"], 2, "Missing option '--base-path'"),
]


def test_command_help_and_option_errors_start_without_tensorflow():
    # A fresh interpreter runs the command (the launcher, as the console
    # script does) in-process, then reports what it imported: the options
    # come from the settings dataclasses, which load neither Keras nor
    # TensorFlow; only running a command does.
    code = (
        "import json, os, sys\n"
        "from click.testing import CliRunner\n"
        "from keras_adapters_launcher import main\n"
        f"answers = [CliRunner().invoke(main, args, prog_name='keras-adapters') "
        f"for args, _, _ in {ANSWERED_WITHOUT_TENSORFLOW!r}]\n"
        "print(json.dumps({'answers': [[a.exit_code, a.output] for a in answers],\n"
        "                  'lazy_switch_left_set': 'KERAS_ADAPTERS_LAZY_IMPORT' in os.environ,\n"
        "                  'heavy': sorted({'tensorflow', 'keras', 'keras_hub', 'keras_tuner',\n"
        "                                   'tensorflow_datasets'} & set(sys.modules))}))\n"
    )
    env = {k: v for k, v in _quiet_env().items() if k != "KERAS_ADAPTERS_LAZY_IMPORT"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    for (args, status, line), (exit_code, output) in zip(ANSWERED_WITHOUT_TENSORFLOW,
                                                         report["answers"]):
        assert exit_code == status and line in output, (args, output)
    assert report["heavy"] == [] and not report["lazy_switch_left_set"]


def test_command_summaries_are_the_commands_own():
    from keras_adapters_launcher import COMMANDS

    for name in COMMANDS:
        command = main.get_command(click.Context(main), name)
        assert command.name == name
        assert command.help.split("\n\n")[0].replace("\n", " ") == COMMANDS[name][1]


TEXTS = ["[/oops] the movie was good", "[citation needed] the film :smile:"]


@pytest.fixture(scope="module")
def predicted(tricky_run):
    """`keras-adapters predict` run as a user runs it: the console script."""
    return subprocess.run([CONSOLE_SCRIPT, "predict", tricky_run["out"], *TEXTS],
                          capture_output=True, text=True, env=_quiet_env(), timeout=300)


def test_predict_prints_texts_literally(predicted):
    assert predicted.returncode == 0, predicted.stderr
    for text in TEXTS:
        assert text in predicted.stdout


def test_command_prints_no_start_up_logs(predicted):
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stderr == ""


def test_quiet_start_sets_the_log_level_unless_verbose(monkeypatch):
    from keras_adapters_launcher import start_tensorflow

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    start_tensorflow(verbose=True)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    start_tensorflow(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def _serializable_modules():
    """The keras_adapters modules that register Keras serializable classes."""
    import keras_adapters

    root = os.path.dirname(os.path.dirname(keras_adapters.__file__))
    for folder, _, files in os.walk(os.path.dirname(keras_adapters.__file__)):
        for file in files:
            path = os.path.join(folder, file)
            if not file.endswith(".py"):
                continue
            with open(path, encoding="utf-8") as f:
                if "register_keras_serializable" in f.read():
                    yield os.path.relpath(path, root)[: -len(".py")].replace(os.sep, ".")


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_import_registers_every_serializable_class(tmp_path):
    import keras_hub

    import keras_adapters
    from keras_adapters.tasks import PooledTextClassifier

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=8,
    )
    adapted = keras_adapters.add_adapters(backbone, "houlsby", bottleneck_size=2)
    path = str(tmp_path / "model.keras")
    PooledTextClassifier(adapted, num_classes=2).save(path)
    # A fresh interpreter that imports only the package root, then loads.
    code = (
        "import keras, keras_adapters\n"
        "from keras.src.saving import object_registration\n"
        "print(' '.join(sorted(k for k in object_registration.GLOBAL_CUSTOM_OBJECTS\n"
        "                      if k.startswith('keras_adapters>'))))\n"
        f"model = keras.saving.load_model({path!r})\n"
        "print(type(model).__name__, type(model.backbone).__name__)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    registered, loaded = result.stdout.strip().split("\n")[-2:]
    assert loaded.split() == ["PooledTextClassifier", "AdaptedBertBackbone"]
    # Every class any keras_adapters module registers is registered by the root import.
    import importlib

    from keras.src.saving import object_registration

    for module in _serializable_modules():
        importlib.import_module(module)
    ours = {k for k in object_registration.GLOBAL_CUSTOM_OBJECTS if k.startswith("keras_adapters>")}
    assert "keras_adapters>PooledTextClassifier" in ours
    assert ours <= set(registered.split())
