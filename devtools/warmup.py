"""Load the heavy parts before the first request: the embedded model, the embedder, the index.

The local server runs this before it accepts connections, so that the first answer takes
the time of any other. Each part logs what it loads and how long it took; a part that
fails is logged and left to load (and fail, with its usual error) on first use.

On Azure the Functions host has no startup hook: shared/warmup.py holds the thread function_app
starts there instead. Here too the import starts it; with a remote default model the server also
waits for it before it listens.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shared import backends
from shared.config import get_settings
from shared.warmup import WARM_UP_QUESTION, finished

log = logging.getLogger("warmup")

EXTRACTIVE_WARM_UP_SOURCES = 10


async def _chat_model() -> None:
    model = backends.chat_model()
    start = getattr(model, "start", None)  # only the embedded model has a process to start
    if start is not None:
        await start()
        model.count_tokens([])  # its tokenizer


async def _first_turn() -> None:
    from shared.core.types import GenerationParams, RetrievalSpec, TurnRequest

    # One real turn loads whatever the answer path needs: the embedder, the index's vectors,
    # the templates, the answer strategy's own parts. A few tokens are enough to warm the model.
    # Extractive answers embed the passages of the sources they read: a broad question over
    # EXTRACTIVE_WARM_UP_SOURCES chunks embeds those a newcomer's first questions are likely to
    # reach (the whole sample corpus), at a cost of about a second.
    extractive = get_settings().model.answer_strategy == "extractive"
    turn = TurnRequest(
        question=WARM_UP_QUESTION,
        retrieval=RetrievalSpec(top_k=EXTRACTIVE_WARM_UP_SOURCES if extractive else 1),
        generation=GenerationParams(max_tokens=4),
    )
    await backends.orchestrator().answer(turn)


async def _embedder_pool() -> None:
    # Concurrent calls reach every instance of the pool, each on its own thread (their first
    # call sets up the thread's OpenMP team).
    size = get_settings().embeddings.pool_size
    embeddings = backends.embeddings()
    await asyncio.gather(*(embeddings.embed_documents([WARM_UP_QUESTION]) for _ in range(size)))


async def _search() -> None:
    from shared.core.types import RetrievalSpec

    # One search builds the embedder and reads the index's vectors into memory.
    await backends.retriever().search(WARM_UP_QUESTION, RetrievalSpec(top_k=1), None)


async def _remote_model() -> None:
    await finished()  # the thread function_app's import started (shared/warmup.py), as on Azure


def parts(app: Any = None, route_prefix: str = "api") -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    """What to load, for this configuration: only the parts that run on this machine, and (given
    the ASGI app) one request through its handlers. A remote model is never called: a warm-up
    must cost nothing and send nothing."""
    settings = get_settings()
    embedded_model = settings.model.capabilities().embedded
    embedded_search = settings.search.backend == "embedded"
    chosen: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    if settings.embeddings.provider == "embedded":
        chosen.append(("the embedding model", _embedder_pool))
    if embedded_model and _runtime_installed():
        chosen.append(("the embedded chat model", _chat_model))
    if embedded_model and embedded_search:
        chosen.append(("the search index, the embedding model and a first answer", _first_turn))
    elif embedded_search:
        chosen.append(("the search index and the embedding model", _search))
    if embedded_model and app is not None:  # the request asks the default model
        chosen.append(("the HTTP handlers", functools.partial(_first_request, app, route_prefix)))
    if not embedded_model:  # last: the thread runs meanwhile
        chosen.append(("what the warm-up thread builds", _remote_model))
    return chosen


def _runtime_installed() -> bool:
    from shared.llm.embedded import runtime_installed

    if runtime_installed():
        return True
    log.warning(
        "the embedded chat model is not installed yet (llama.cpp builds in the background, log in "
        ".data/llama-build.log): extractive answers work meanwhile, generated ones answer 503 until it lands"
    )
    return False


async def warm_up(app: Any = None, route_prefix: str = "api") -> None:
    """Load every part, then (given the ASGI app) answer one request through its handlers."""
    started = time.perf_counter()
    for name, load in parts(app, route_prefix):
        log.info("loading %s", name)
        part_started = time.perf_counter()
        try:
            await load()
        except Exception as exc:  # noqa: BLE001 - the server still starts; the part fails on use
            log.error("could not load %s (%s): it will be tried again on first use", name, type(exc).__name__)
            continue
        log.info("loaded %s in %.2f s", name, time.perf_counter() - part_started)
    log.info("ready in %.1f s", time.perf_counter() - started)


async def _first_request(app: Any, route_prefix: str) -> None:
    """One request through the app's own HTTP stack, so the first caller does not pay for the
    handlers' deferred imports and the wire models' first validation. Its answer is dropped."""
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://warm-up") as client:
        await client.post(f"/{route_prefix}/v2/flexible-rag", json={"question": WARM_UP_QUESTION})
        # The MCP endpoint's protocol types and tool schemas, built once (docs/mcp.md).
        await client.post(f"/{route_prefix}/mcp", json={"jsonrpc": "2.0", "id": 0, "method": "tools/list"})
