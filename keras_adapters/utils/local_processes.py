"""Several processes of one job started together on this machine, with one deadline.

Distributed runs on one machine (JAX data-parallel processes, keras-tuner's
chief and workers, TensorFlow's multi-worker check) start every member at
once, since each waits for the others, and must never outlive their
deadline: a member left waiting on a dead peer would hang the caller.
`run_together` does that for the tests and the benchmark; `free_ports` picks
loopback ports for their coordinators.
"""

import dataclasses
import socket
import subprocess
import tempfile
import time

__all__ = ["Finished", "free_ports", "run_together"]


@dataclasses.dataclass(frozen=True)
class Finished:
    """How one process of `run_together` ended.

    Attributes:
        returncode: its exit status, or None when it was stopped at the deadline.
        stdout, stderr: what it printed.
    """

    returncode: int | None
    stdout: str
    stderr: str

    @property
    def output(self):
        """Standard output then standard error, for messages."""
        return self.stdout + self.stderr


def free_ports(count):
    """`count` different TCP ports on 127.0.0.1 that were free a moment ago.

    Example:

    >>> from keras_adapters.utils.local_processes import free_ports
    >>> first, second = free_ports(2)
    >>> first != second and 0 < first < 65536
    True
    """
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:  # bound together, so the ports differ
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def run_together(commands, timeout, envs=None, cwd=None):
    """Starts every command at once and waits for all of them, `timeout` seconds in all.

    Output goes to temporary files, not pipes: a process blocked on a full
    pipe would stall the others, which wait for it. Any process still running
    at the deadline, or when the caller is interrupted, is killed.

    Args:
        commands: a list of argument lists.
        timeout: seconds for all of them together.
        envs: None (this process's environment), or one environment dict
            per command.
        cwd: their working directory (None: this process's).

    Returns:
        A list of `Finished`, in the order of `commands`.

    Raises:
        ValueError: when `envs` does not give one environment per command.

    Example:

    >>> import sys
    >>> from keras_adapters.utils.local_processes import run_together
    >>> ended = run_together([[sys.executable, "-c", "print(6 * 7)"],
    ...                       [sys.executable, "-c", "import time; time.sleep(60)"]], timeout=5)
    >>> (ended[0].returncode, ended[0].stdout.strip()), ended[1].returncode
    ((0, '42'), None)
    """
    if envs is not None and len(envs) != len(commands):
        raise ValueError(f"Got {len(envs)} environments for {len(commands)} commands; give one per command.")
    files = [(tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")) for _ in commands]
    processes, returncodes = [], []
    deadline = time.monotonic() + timeout
    try:
        for index, (command, (stdout, stderr)) in enumerate(zip(commands, files)):
            env = None if envs is None else envs[index]
            processes.append(subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr))
        for process in processes:
            try:
                returncodes.append(process.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                returncodes.append(None)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        outputs = []
        for stdout, stderr in files:
            stdout.seek(0)
            stderr.seek(0)
            outputs.append((stdout.read(), stderr.read()))
            stdout.close()
            stderr.close()
    return [Finished(returncode, *output) for returncode, output in zip(returncodes, outputs)]
