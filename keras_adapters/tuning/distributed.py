"""Distributed search: one chief (keras-tuner's oracle) and workers that train trials.

keras-tuner's own mechanism, selected by its environment variables, which
`keras-adapters tune` reads as they are:

    KERASTUNER_TUNER_ID     "chief" for the oracle process, any other unique
                            id ("tuner0", "tuner1", ...) for each worker
    KERASTUNER_ORACLE_IP    the chief's address (127.0.0.1 on one machine)
    KERASTUNER_ORACLE_PORT  the port the chief listens on (gRPC)

Every process runs the same `keras-adapters tune` command. The chief serves
trials to the workers, waits until the search is over, then writes the
search directory (results, `best/`) as a single-process search does; the
workers train trials and write only their trials' adapter checkpoints. All
processes share the keras-tuner project, `.NAME.distributed-search/` next to
`--output-dir` (a shared file system across hosts), which the chief moves
into the search directory as `trials/` when it is complete.
"""

import dataclasses
import os

from keras_adapters.errors import KerasAdaptersError

__all__ = ["ENVIRONMENT", "SearchRole", "search_role", "shared_search_dir"]

#: keras-tuner's environment variables of a distributed search.
ENVIRONMENT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


@dataclasses.dataclass(frozen=True)
class SearchRole:
    """This process's part in a search.

    Attributes:
        kind: `"single"` (no distributed search), `"chief"` or `"worker"`.
        tuner_id: `KERASTUNER_TUNER_ID`, or None.
        oracle: `"IP:PORT"` of the chief, or None.
    """

    kind: str
    tuner_id: str | None = None
    oracle: str | None = None

    @property
    def distributed(self):
        return self.kind != "single"

    def describe(self):
        """One line for the start of a search."""
        if self.kind == "single":
            return "Search: one process."
        if self.kind == "chief":
            return f"Distributed search: chief (oracle) serving trials on {self.oracle}."
        return f"Distributed search: worker {self.tuner_id}, trials from the chief at {self.oracle}."


def search_role(environ=None):
    """Reads this process's `SearchRole` from keras-tuner's environment variables.

    Args:
        environ: a mapping like `os.environ` (default: `os.environ`).

    Returns:
        A `SearchRole`: `"single"` without `KERASTUNER_ORACLE_IP`.

    Raises:
        KerasAdaptersError: when the variables are incomplete or the port
            is not a number.

    Example:

    >>> from keras_adapters.tuning.distributed import search_role
    >>> search_role({}).kind
    'single'
    >>> search_role({"KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "127.0.0.1",
    ...              "KERASTUNER_ORACLE_PORT": "8000"})
    SearchRole(kind='worker', tuner_id='tuner1', oracle='127.0.0.1:8000')
    >>> search_role({"KERASTUNER_ORACLE_IP": "127.0.0.1"})
    Traceback (most recent call last):
    ...
    keras_adapters.errors.KerasAdaptersError: A distributed search needs all of KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT; KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_PORT are not set. Set them in every process (KERASTUNER_TUNER_ID=chief for the oracle), or unset KERASTUNER_ORACLE_IP for a one-process search.
    """
    environ = os.environ if environ is None else environ
    if "KERASTUNER_ORACLE_IP" not in environ:
        return SearchRole("single")
    missing = [name for name in ENVIRONMENT if not environ.get(name)]
    if missing:
        raise KerasAdaptersError(
            f"A distributed search needs all of {', '.join(ENVIRONMENT)}; "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Set them in "
            "every process (KERASTUNER_TUNER_ID=chief for the oracle), or unset "
            "KERASTUNER_ORACLE_IP for a one-process search."
        )
    port = environ["KERASTUNER_ORACLE_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise KerasAdaptersError(
            f"KERASTUNER_ORACLE_PORT must be a port number (1-65535); got {port!r}."
        )
    tuner_id = environ["KERASTUNER_TUNER_ID"]
    # keras-tuner's own test (`keras_tuner.src.distribute.utils.is_chief_oracle`).
    kind = "chief" if "chief" in tuner_id else "worker"
    return SearchRole(kind, tuner_id, f"{environ['KERASTUNER_ORACLE_IP']}:{port}")


def shared_search_dir(output_dir):
    """The directory every process of a distributed search puts the keras-tuner project in.

    Next to `output_dir` (so the chief can move it in with one rename),
    hidden, and the same in every process given the same `--output-dir`.

    Args:
        output_dir: the search's output directory.

    Returns:
        An absolute path.

    Example:

    >>> from keras_adapters.tuning.distributed import shared_search_dir
    >>> shared_search_dir("/runs/tune")
    '/runs/.tune.distributed-search'
    """
    path = os.path.abspath(os.fspath(output_dir)).rstrip(os.sep)
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.distributed-search")
