"""Start of the `keras-adapters` command: answers `--help` before loading the library.

`import keras_adapters` loads the whole library, TensorFlow included: it
registers every Keras serializable class, so `keras.saving.load_model` reads
keras-adapters models right after it. Asking for help (`--help`, a command's
`--help`) or giving a bad option or command name needs none of that. So the
command's root lives here, outside the package, importing only click and the
standard library, and a command's module (`keras_adapters.cli...`) is
imported when the command is asked for, with the package in lazy mode
(`KERAS_ADAPTERS_LAZY_IMPORT=1`, set only while the package is first
imported): the module and the settings dataclasses its options come from
load neither Keras nor TensorFlow. Only when click has parsed the options and
runs the command does TensorFlow start, quietly, and the library load whole
(`keras_adapters.import_all()`), as `import keras_adapters` would have.

Quiet start: TensorFlow prints start-up lines on every import
(`cudart_stub.cc ... Could not find cuda drivers`, absl's "All log messages
before absl::InitializeLog() ..." notice) and, on machines with CUDA libraries
but no usable GPU, an `E0000 ... failed call to cuInit` line at the first
operation. None of it is about the user's command. The C++ lines written
before absl logging is set up ignore `TF_CPP_MIN_LOG_LEVEL`, so the import
itself runs with the process's stderr (file descriptor 2) sent to a temporary
file, which is shown only if the import fails. `TF_CPP_MIN_LOG_LEVEL=3`
silences TensorFlow's later C++ logs (the cuInit line among them), Python
absl logging is set to errors, and Python warnings raised inside TensorFlow
and Keras (notes for developers, such as Keras' "`shuffle=True` was passed,
but will be ignored") are not shown. It changes what is printed, never which
devices TensorFlow uses. `keras-adapters --verbose` shows all of it.

Backend: Keras reads `KERAS_BACKEND` once, when it is first imported, so
`train`, `tune`, `predict` and `evaluate` take `--backend tensorflow|jax|torch`
here and set the variable before anything imports Keras (default: the
exported `KERAS_BACKEND`, else tensorflow). `export` always runs on
TensorFlow: a SavedModel is a TensorFlow graph, and run directories are the
same on every backend.
"""

import contextlib
import copy
import functools
import importlib
import importlib.util
import os
import sys
import tempfile
import warnings

import click

# KerasHub and Keras read these when first imported: the TensorFlow backend,
# and no Hugging Face downloads (the command works from local files).
DEFAULT_ENVIRONMENT = {"KERAS_BACKEND": "tensorflow", "HF_HUB_OFFLINE": "1"}
# The Keras backends a command can run on (values of KERAS_BACKEND); each is
# also the name of the package it imports and of its setup.py extra.
BACKENDS = ("tensorflow", "jax", "torch")
# Commands that run on the backend --backend (or KERAS_BACKEND) names.
BACKEND_COMMANDS = ("train", "tune", "predict", "evaluate")
# Commands that always run on TensorFlow (SavedModel export traces TF graphs).
TENSORFLOW_COMMANDS = ("export",)
# TensorFlow C++ log level of a quiet start: 3 hides INFO, WARNING and ERROR.
QUIET_TF_LOG_LEVEL = "3"
# keras_adapters' switch to a lazy import (keras_adapters.LAZY_IMPORT_VARIABLE).
LAZY_IMPORT_VARIABLE = "KERAS_ADAPTERS_LAZY_IMPORT"
# Modules whose Python warnings a quiet start hides.
QUIET_WARNING_MODULES = r"(tensorflow|tf_keras|keras|keras_hub|keras_nlp|keras_tuner|absl)(\.|$)"

# Command name -> ("module:attribute" of its click command, summary shown by
# `keras-adapters --help`; the first sentence of the command's docstring,
# which tests/test_cli_errors.py checks).
COMMANDS = {
    "train": (
        "keras_adapters.cli.run_commands:train",
        "Fine-tune a pretrained backbone with adapters on a classification dataset.",
    ),
    "tune": (
        "keras_adapters.cli.tune_command:tune",
        "Search adapter settings (bottleneck size, ...) with keras-tuner.",
    ),
    "predict": (
        "keras_adapters.cli.run_commands:predict",
        "Predict labels for TEXTS with the model trained in RUN_DIR.",
    ),
    "evaluate": (
        "keras_adapters.cli.run_commands:evaluate",
        "Evaluate the model trained in RUN_DIR on a dataset.",
    ),
    "export": (
        "keras_adapters.cli.export_commands:export_command",
        "Export the model trained in RUN_DIR as a SavedModel for TF Serving.",
    ),
    "check-export": (
        "keras_adapters.cli.export_commands:check_export_command",
        "Load and run an export with TensorFlow's C++ SavedModel loader.",
    ),
}


def set_default_environment():
    """Sets `DEFAULT_ENVIRONMENT`, keeping any value the user exported."""
    for name, value in DEFAULT_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def _stderr_to_file():
    """Sends file descriptor 2 to a temporary file; yields that file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield capture
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def start_tensorflow(verbose=False):
    """Imports TensorFlow, quietly unless `verbose`.

    Call it before anything imports TensorFlow; when TensorFlow is already
    imported (tests, a second call) it changes nothing but the log levels.

    Args:
        verbose: show TensorFlow's start-up and C++ logs (no capture, log
            levels left as they are).

    Raises:
        Whatever importing TensorFlow raises, after writing the captured
        start-up output to stderr so the cause is visible.
    """
    set_default_environment()
    if verbose:
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LOG_LEVEL)
    if "tensorflow" not in sys.modules:
        captured = b""
        try:
            with _stderr_to_file() as capture:
                try:
                    import tensorflow  # noqa: F401
                finally:
                    capture.seek(0)
                    captured = capture.read()
        except BaseException:
            sys.stderr.write(captured.decode("utf-8", "replace"))
            raise
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    warnings.filterwarnings("ignore", module=QUIET_WARNING_MODULES)


def import_lazily(module_name):
    """Imports a module, keras_adapters in lazy mode if this imports it first.

    The switch is set only for that import (keras_adapters reads it once),
    so processes the command starts inherit the user's environment.

    Args:
        module_name: a module of keras_adapters, e.g. "keras_adapters.cli.run_commands".

    Returns:
        The module.
    """
    previous = os.environ.get(LAZY_IMPORT_VARIABLE)
    os.environ[LAZY_IMPORT_VARIABLE] = "1"
    try:
        return importlib.import_module(module_name)
    finally:
        if previous is None:
            del os.environ[LAZY_IMPORT_VARIABLE]
        else:
            os.environ[LAZY_IMPORT_VARIABLE] = previous


def load_library(verbose=False):
    """Starts TensorFlow (quietly unless `verbose`), then loads keras_adapters whole.

    Args:
        verbose: passed to `start_tensorflow`.
    """
    start_tensorflow(verbose=verbose)
    import keras_adapters

    keras_adapters.import_all()


def choose_backend(requested=None):
    """Sets the Keras backend of this process (and of those it starts).

    Call it before anything imports Keras: it sets `KERAS_BACKEND`, which
    Keras reads once, at its first import.

    Args:
        requested: "tensorflow", "jax" or "torch"; None for the exported
            `KERAS_BACKEND`, else tensorflow (or, when Keras is already
            imported, the backend it runs on).

    Returns:
        The backend the command runs on.

    Raises:
        click.UsageError: if `KERAS_BACKEND` names no backend of `BACKENDS`.
        click.ClickException: if Keras is already imported on another
            backend, or the backend's package is not installed.
    """
    keras = sys.modules.get("keras")
    running = keras.config.backend() if keras is not None else None
    backend = requested or running or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend not in BACKENDS:
        raise click.UsageError(
            f"KERAS_BACKEND={backend!r} is not a Keras backend keras-adapters runs on; use one of "
            f"{', '.join(BACKENDS)} (or --backend)."
        )
    if running is not None:
        if running != backend:
            raise click.ClickException(
                f"Keras is already imported in this process on the {running!r} backend, and Keras "
                f"picks its backend once, at import: it cannot switch to {backend!r}. Run the "
                f"command in a new process (keras-adapters ... --backend {backend})."
            )
        return backend
    if importlib.util.find_spec(backend) is None:
        raise click.ClickException(
            f"The {backend} backend is not installed: pip install 'keras-adapters[{backend}]' "
            "(`make setup` installs every backend)."
        )
    os.environ["KERAS_BACKEND"] = backend
    return backend


def _backend_option(command_name):
    """The `--backend` option of a command (None: the command has none)."""
    if command_name in BACKEND_COMMANDS:
        return click.Option(
            ["--backend"], type=click.Choice(BACKENDS), default=None,
            help="Keras backend to run on. Default: the KERAS_BACKEND environment variable, "
                 "else tensorflow. Run directories and adapter files are the same on every "
                 "backend (tf.data still feeds the data).",
        )
    if command_name in TENSORFLOW_COMMANDS:
        return click.Option(
            ["--backend"], type=click.Choice(BACKENDS), default=None,
            help="Only tensorflow: export always runs Keras on TensorFlow (a SavedModel is a "
                 "TensorFlow graph), whatever KERAS_BACKEND says; runs trained on jax or torch "
                 "export as they are.",
        )
    return None


def _backend_of_command(command_name, requested):
    """The backend `command_name` runs on, given its `--backend` value."""
    if command_name not in TENSORFLOW_COMMANDS:
        return choose_backend(requested)
    if requested not in (None, "tensorflow"):
        raise click.UsageError(
            f"Invalid value for '--backend': {command_name} runs on TensorFlow only (a SavedModel "
            f"for TF Serving is a TensorFlow graph), not {requested!r}. Runs trained with "
            f"--backend {requested} export as they are: leave out --backend."
        )
    return choose_backend("tensorflow")


def _loading_the_library_first(command, command_name):
    """A copy of a click command whose callback first calls `load_library`.

    Click calls the callback once the options are parsed: help and option
    errors, handled before, answer without TensorFlow. The copy has the
    command's `--backend` option, applied before the library loads.
    """
    callback = command.callback

    @functools.wraps(callback)
    def run(*args, backend=None, **kwargs):
        _backend_of_command(command_name, backend)
        root = click.get_current_context().find_root()
        load_library(verbose=bool(root.params.get("verbose")))
        return callback(*args, **kwargs)

    started = copy.copy(command)
    started.callback = run
    option = _backend_option(command_name)
    if option is not None:
        started.params = [*command.params, option]
    return started


class CommandsOnDemand(click.Group):
    """A click group whose commands (`COMMANDS`) are imported when asked for.

    The command's module is imported without TensorFlow; TensorFlow starts
    when the command runs.
    """

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name][0].split(":")
        return _loading_the_library_first(getattr(import_lazily(module), attribute), name)

    def format_commands(self, ctx, formatter):
        # From the summaries, as click would from the commands' short help:
        # listing the commands imports none of them.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            formatter.write_dl([
                (name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit))
                for name in names
            ])


set_default_environment()


@click.group(cls=CommandsOnDemand,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="keras-adapters")
@click.option("--verbose", "-v", is_flag=True,
              help="Show TensorFlow's start-up and C++ log lines and Python warnings from "
                   "TensorFlow/Keras, hidden by default. Give it before the command: "
                   "keras-adapters --verbose train ...")
def main(verbose):
    """Parameter-efficient fine-tuning of KerasHub models with bottleneck adapters.

    Start with `keras-adapters train` (defaults: the pretrained all-MiniLM-L6-v2
    and the Rotten Tomatoes sentiment data, both installed by `make setup`),
    then `predict` and `evaluate` on its output directory.
    """


if __name__ == "__main__":
    main(prog_name="python -m keras_adapters_launcher")
