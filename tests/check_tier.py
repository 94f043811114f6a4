"""The fast tier (`make check`, TEST_TIER=check): the tests that need no emulator, no Node, no
server process and no compiled model. Whatever would start one of them skips at that point,
so the tier needs no list of tests to keep in sync; `make test` runs everything.
"""

from __future__ import annotations

import os

import pytest

ENABLED = os.environ.get("TEST_TIER") == "check"
REASON = "the fast tier skips it: it needs {} (make test runs it)"


def _skipping(what: str):
    def skip(*args, **kwargs):
        pytest.skip(REASON.format(what))

    return skip


def install() -> None:
    """Replace what starts processes with a skip. Runs before any test module imports them."""
    if not ENABLED:
        return
    from shared.llm import worker_supervisor
    from tests import servers

    # Emulators, llama.cpp's server and the app's own server process all start through these.
    servers.serving = _skipping("a server process")
    servers.running_in_background = _skipping("the local server process")
    worker_supervisor.WorkerSupervisor.ensure_started = _skipping("the compiled embedded model")
