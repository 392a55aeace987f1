"""What the commands print, and how they turn user errors into one line.

Everything printed goes through consoles that never interpret markup or
emoji codes, because texts, labels, paths and error messages come from the
user; styling is applied with `rich.text.Text`.
"""

import errno
import functools
import os
import shlex
import shutil
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from keras_adapters.errors import KerasAdaptersError

# markup=False, emoji=False: "[/oops]" or ":smile:" in user text prints as is.
console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
error_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

# OS errors a user causes with a path (missing, read-only, full disk, ...):
# printed as one line. Any other exception is a bug and keeps its traceback.
USER_OS_ERRORS = (
    FileExistsError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
USER_OS_ERRNOS = {
    getattr(errno, name)
    for name in ("EROFS", "ENOSPC", "EDQUOT", "ENAMETOOLONG", "ELOOP")
    if hasattr(errno, name)
}

def styled(label, style, message):
    """`label` in `style`, then `message` as plain text."""
    return Text.assemble((label, style), " ", message)


def fail(message):
    """Prints "Error: message" to stderr and exits with status 1."""
    error_console.print(styled("Error:", "bold red", str(message)))
    sys.exit(EXIT_ERROR)


def interrupted(message=None):
    """Prints that the command was interrupted and exits with status 130."""
    if message is None:
        error_console.print(Text("Interrupted.", style="bold yellow"))
    else:
        error_console.print(styled("Interrupted:", "bold yellow", message))
    sys.exit(EXIT_INTERRUPTED)


def describe_os_error(error):
    """'<reason>: <path>' for an OSError, without the '[Errno N]' prefix."""
    reason = error.strerror or type(error).__name__
    paths = [repr(os.fspath(p)) for p in (error.filename, error.filename2) if p is not None]
    return f"{reason}: {' -> '.join(paths)}" if paths else str(error)


def guarded(command):
    """Runs a command body, printing the errors a user can cause in one line.

    `KerasAdaptersError` (bad input the library recognised) and OS errors
    about a path the user gave become "Error: ..." and exit status 1; Ctrl-C
    exits with 130. Anything else is a bug: it propagates with its traceback.
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            interrupted()
        except KerasAdaptersError as e:
            fail(e)
        except OSError as e:
            if isinstance(e, USER_OS_ERRORS) or e.errno in USER_OS_ERRNOS:
                fail(describe_os_error(e))
            raise

    return run


def command_name():
    """How the user can call this tool from their shell."""
    if shutil.which("keras-adapters"):
        return "keras-adapters"
    if os.path.basename(sys.argv[0]) == "keras-adapters":
        return os.path.relpath(sys.argv[0])
    return f"{os.path.relpath(sys.executable)} -m keras_adapters"


def print_try_it(run_dir):
    """Prints a `predict` command line for a run directory just written."""
    console.print("Try it:")
    console.print(f'  {command_name()} predict {shlex.quote(run_dir)} '
                  '"a gorgeous, witty, seductive movie."')


def print_metrics_table(rows, title):
    """Prints accuracy, macro-F1 and loss per split (`rows`: split -> metrics)."""
    table = Table(title=title)
    table.add_column("split")
    for column in ("examples", "accuracy", "macro-F1", "loss"):
        table.add_column(column, justify="right")
    for split, m in rows.items():
        table.add_row(split, f"{m['num_examples']:,}", f"{100 * m['accuracy']:.2f}%",
                      f"{100 * m['macro_f1']:.2f}%", f"{m['loss']:.4f}")
    console.print(table)
