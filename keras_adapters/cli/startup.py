"""A quiet TensorFlow start for the command line.

TensorFlow prints start-up lines on every import (`cudart_stub.cc ... Could
not find cuda drivers`, absl's "All log messages before absl::InitializeLog()
..." notice) and, on machines with CUDA libraries but no usable GPU, an
`E0000 ... failed call to cuInit` line at the first operation. None of it is
about the user's command. The C++ lines written before absl logging is set up
ignore `TF_CPP_MIN_LOG_LEVEL`, so the import itself runs with the process's
stderr (file descriptor 2) sent to a temporary file, which is shown only if
the import fails. `TF_CPP_MIN_LOG_LEVEL=3` silences TensorFlow's later C++
logs (the cuInit line among them), Python absl logging is set to errors, and
Python warnings raised inside TensorFlow and Keras (notes for developers,
such as Keras' "`shuffle=True` was passed, but will be ignored") are not
shown. It changes what is printed, never which devices TensorFlow uses.
"""

import contextlib
import os
import sys
import tempfile
import warnings

# KerasHub and Keras read these when first imported: the TensorFlow backend,
# and no Hugging Face downloads (the command works from local files).
DEFAULT_ENVIRONMENT = {"KERAS_BACKEND": "tensorflow", "HF_HUB_OFFLINE": "1"}
# TensorFlow C++ log level of a quiet start: 3 hides INFO, WARNING and ERROR.
QUIET_TF_LOG_LEVEL = "3"
# Modules whose Python warnings a quiet start hides.
QUIET_WARNING_MODULES = r"(tensorflow|tf_keras|keras|keras_hub|keras_nlp|keras_tuner|absl)(\.|$)"


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

    Call it at the start of a command, before anything imports TensorFlow;
    when TensorFlow is already imported (tests, a second call) it changes
    nothing but the log levels.

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
