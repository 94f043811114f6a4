"""Server processes for tests and benchmarks: a free port, a command run while it listens, and
the app's own local server (devtools.local_server) in the background.

Everything listens on 127.0.0.1 and is stopped by its PID. Only tests/integration/ starts them
(a unit test that starts a process fails: tests/unit/conftest.py). Not deployed (.funcignore).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import IO

from shared.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(process: subprocess.Popen, port: int, timeout: float, name: str) -> None:
    """Return once `process` accepts connections on 127.0.0.1:`port`; RuntimeError if it exits or times out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start on port {port}") from None
            time.sleep(0.05)


@contextlib.contextmanager
def serving(
    command: list[str],
    port: int,
    name: str,
    *,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    log: IO[bytes] | None = None,
) -> Iterator[None]:
    """Run a server command for the duration of the block, once it accepts connections on `port`.

    Its output goes to `log` if given (complete once the block ends), and is shown if it fails
    to start; it is stopped by its PID.
    """
    with contextlib.nullcontext(log) if log else tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            try:
                wait_until_listening(process, port, timeout, name)
            except RuntimeError as exc:
                output.seek(0)
                raise RuntimeError(f"{exc}:\n{output.read().decode(errors='replace')[-2000:]}") from None
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # never left running past the block
                process.kill()
                process.wait()


@contextlib.contextmanager
def running_in_background(
    startup_timeout: float = 300, env: dict[str, str] | None = None, log: IO[bytes] | None = None
) -> Iterator[str]:
    """This app's local server on a free 127.0.0.1 port, for the duration of the block; its base URL.
    The start-up limit only catches a hang (a server that exits fails at once): a loaded machine
    can take minutes to load the model, the embedder and the index before it listens."""
    port = free_port()
    command = [sys.executable, "-m", "devtools.local_server", "--port", str(port)]
    with serving(command, port, "the local server", timeout=startup_timeout, env=env, log=log):
        yield f"http://127.0.0.1:{port}"
