"""The unit tier (`make check` runs only this folder): no server process, emulator, Node or
compiled model. A unit test that starts a process is a bug: it fails, naming what it started.

An audit hook sees every process start from any thread (subprocess, asyncio's subprocesses and
the embedded model's worker all go through `subprocess.Popen`), so no production code is
patched. Audit hooks cannot be removed: this one is armed only while a unit test's setup, call
or teardown runs (these hooks apply to the tests of this folder only).
"""

from __future__ import annotations

import contextlib
import platform
import sys

import pytest

# The audit events of starting a program or a copy of this one.
_PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.exec", "os.fork"})
_started: list[str] | None = None  # None: not armed


def _audit(event: str, args: tuple) -> None:
    if _started is not None and event in _PROCESS_EVENTS:
        _started.append(f"{event} {args[:2]!r}"[:300])
        raise RuntimeError(f"a unit test started a process ({event}); it belongs in tests/integration/")


sys.addaudithook(_audit)
# platform.processor() runs `uname -p` once per process and keeps the answer (the Azure SDKs put
# it in their user agent): asked here, before any unit test, it starts no process later.
platform.processor()


@contextlib.contextmanager
def _no_process_started(item: pytest.Item):
    global _started
    _started = []
    try:
        yield
    finally:
        started, _started = _started, None
        # Also what a background thread tried, whose exception the test may never see.
        assert not started, f"{item.nodeid} started processes; it belongs in tests/integration/: {started}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with _no_process_started(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _no_process_started(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    with _no_process_started(item):
        return (yield)
