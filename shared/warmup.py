"""What Azure runs before the first request. The Functions host has no startup hook:
`import function_app` calls `start()`, a daemon thread that reads every setting and builds what a
remote model's first request needs (its client, its tokenizer, the templates, the orchestrator,
telemetry, the modules the answer path imports on first use) while the host finishes starting.
A request that arrives before it is done waits for it (`finished()`) rather than build the same
parts again beside it. The local server's own warm-up (the embedded model, the embedder, the
index, one request through the handlers) is devtools/warmup.py.

Only the standard library is imported here: function_app imports this module, and the host waits
for that import.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time

log = logging.getLogger("warmup")

WARM_UP_QUESTION = "What does this knowledge base cover?"

# A request waits at most this long for the warm-up: on an overloaded instance it goes on
# beside it rather than wait longer than the warm-up would save it.
WAIT_SECONDS = 10.0

_thread: threading.Thread | None = None


def start() -> threading.Thread:
    """Start the warm-up thread (once per process: function_app's import)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=load_remote_model_parts, name="warm-up", daemon=True)
        _thread.start()
    return _thread


async def finished() -> None:
    """Return once the warm-up thread is done (at once when none runs), without holding the event loop."""
    thread = _thread
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        await asyncio.to_thread(thread.join, WAIT_SECONDS)


def _remote_model_parts() -> None:
    from shared import backends, telemetry
    from shared.config import get_settings
    from shared.core.types import Message

    started = time.perf_counter()
    settings = get_settings()
    settings.read_all()  # each subsystem's validator is built on its first read
    telemetry.configure()
    if settings.model.capabilities().embedded:
        return  # the embedded model is loaded by the local server's warm-up (devtools/warmup.py)
    model = backends.chat_model()  # its HTTP client's imports (aiohttp)
    model.count_tokens([Message("user", WARM_UP_QUESTION)])  # the tokenizer's vocabulary
    _answer_path()
    log.info("loaded the remote model's client, tokenizer and templates in %.2f s", time.perf_counter() - started)


# What the first answer imports on first use besides the model's client (found with
# `python -X importtime` around a first request): the core's turn and the v2 wire models.
# tests/unit/test_warmup.py imports each.
FIRST_REQUEST_MODULES = (
    "shared.core.orchestrator",
    "shared.families.flexible",
)


def _answer_path() -> None:
    """The first answer's imports, its orchestrator, and the default templates parsed when they are
    files (a Blob Storage store is read on first use: its client belongs to the serving event loop)."""
    from shared import backends
    from shared.config import get_settings

    for module in FIRST_REQUEST_MODULES:
        importlib.import_module(module)
    backends.orchestrator()
    settings = get_settings().prompts
    renderer = backends.template_renderer()
    if settings.backend == "blob":
        return
    source = backends.template_source()
    for name in (settings.system_prompt_file, settings.response_template_file):
        text, _ = asyncio.run(source.load(name))
        renderer.compile(text, origin="default")


def load_remote_model_parts() -> None:
    """Read the settings and build a remote default model's client and tokenizer, as its first request would."""
    try:
        _remote_model_parts()
    except Exception as exc:  # noqa: BLE001 - the first request builds them again, and fails with its usual error
        log.error("could not load the remote model's client or tokenizer (%s)", type(exc).__name__)
