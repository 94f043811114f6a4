"""A time limit on every call to a history store (HISTORY_TIMEOUT_SECONDS).

A store that accepts connections and never answers would otherwise hold a turn, or a
sessions request, until the Functions host cuts the call with no answer at all. Past the
limit the call is cancelled and fails like any unreachable store: UpstreamError, a 503
for the sessions endpoints and an errors[] entry for a turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from shared.core.errors import UpstreamError
from shared.core.interfaces import HistoryStore
from shared.core.types import Conversation, Feedback, Message, SessionPage

log = logging.getLogger(__name__)


class BoundedHistoryStore:
    def __init__(self, store: HistoryStore, seconds: float) -> None:
        self._store = store
        self._seconds = seconds

    async def load(self, user_id: str, session_id: str, limit: int | None) -> Conversation:
        async with self._bounded("read"):
            return await self._store.load(user_id, session_id, limit)

    async def append(
        self, user_id: str, session_id: str, messages: Sequence[Message], loaded: Conversation | None = None
    ) -> None:
        async with self._bounded("write"):
            await self._store.append(user_id, session_id, messages, loaded)

    async def list_sessions(self, user_id: str, page_size: int, continuation: str | None) -> SessionPage:
        async with self._bounded("read"):
            return await self._store.list_sessions(user_id, page_size, continuation)

    async def delete(self, user_id: str, session_id: str) -> bool:
        async with self._bounded("write"):
            return await self._store.delete(user_id, session_id)

    async def set_feedback(self, user_id: str, session_id: str, index: int, feedback: Feedback) -> bool:
        async with self._bounded("write"):
            return await self._store.set_feedback(user_id, session_id, index, feedback)

    @contextlib.asynccontextmanager
    async def _bounded(self, action: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._seconds):
                yield
        except TimeoutError as exc:
            log.error("history %s gave no answer within %.1f s", action, self._seconds)
            raise UpstreamError("history_timeout", "The conversation history store did not answer in time.") from exc
