"""What Azure runs before the first request. The Functions host has no startup hook:
`import function_app` starts a daemon thread running `load_remote_model_parts`, which builds what
a remote model's first request needs (its client, its tokenizer, the templates, the modules the
answer path imports on first use) while the host finishes starting. The local server's own
warm-up (the embedded model, the embedder, the index, one request through the handlers) is
devtools/warmup.py.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time

from shared import backends
from shared.config import get_settings

log = logging.getLogger("warmup")

WARM_UP_QUESTION = "What does this knowledge base cover?"


def _remote_model_parts() -> None:
    settings = get_settings().model
    if settings.capabilities().embedded:
        return  # the embedded model is loaded by the local server's warm-up (devtools/warmup.py)
    from shared.core.types import Message

    started = time.perf_counter()
    model = backends.chat_model()  # the SDK client, its imports and its connection pool
    model.count_tokens([Message("user", WARM_UP_QUESTION)])  # the tokenizer's vocabulary
    _answer_path()
    log.info("loaded the remote model's client, tokenizer and templates in %.2f s", time.perf_counter() - started)


# What the first answer imports on first use besides the model's client (found with
# `python -X importtime` around a first request): the core's turn, the v2 wire models, and the
# parts of anyio httpx opens its first connection with. tests/unit/test_warmup.py imports each.
FIRST_REQUEST_MODULES = (
    "shared.core.orchestrator",
    "shared.families.flexible",
    "anyio._core._sockets",
    "anyio._core._streams",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
)


def _answer_path() -> None:
    """The first answer's imports, and the default templates parsed when they are files (a Blob
    Storage store is read on first use: its client belongs to the serving event loop)."""
    for module in FIRST_REQUEST_MODULES:
        importlib.import_module(module)
    settings = get_settings().prompts
    renderer = backends.template_renderer()
    if settings.backend == "blob":
        return
    source = backends.template_source()
    for name in (settings.system_prompt_file, settings.response_template_file):
        text, _ = asyncio.run(source.load(name))
        renderer.compile(text, origin="default")


def load_remote_model_parts() -> None:
    """Build a remote default model's client and tokenizer, as its first request would."""
    try:
        _remote_model_parts()
    except Exception as exc:  # noqa: BLE001 - the first request builds them again, and fails with its usual error
        log.error("could not load the remote model's client or tokenizer (%s)", type(exc).__name__)
