"""The Azure history store: conversations in Cosmos DB for NoSQL (partition key /userId).

Item shapes (docs/conversations.md shows them whole):
- a session item, id = the session id: title, timestamps, message count, the ids of its
  older pages, and the recent window of messages (at least the `keep` newest);
- page items, id = "<session>|<first seq>-<last seq>": older messages moved out of the
  window, written once.

All of a user's items share the partition key (the user id), so a point read of
(session id, user id) can only ever find that user's session, and listing a user's
sessions is a single-partition query.

A turn costs one point read (load) and one conditional write (append): the write replaces
the session item only if its ETag is still the one read, and otherwise reads again and
retries, so concurrent turns are all kept, none twice. Every SPILL_EVERY messages the
oldest move to a page item: one more write then, whatever the conversation's length.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from shared.core.errors import RequestError, UpstreamError
from shared.core.types import Conversation, Feedback, Message, SessionPage, SessionSummary
from shared.history.records import message_from_record, message_record, session_title, with_feedback

if TYPE_CHECKING:
    from azure.cosmos.aio import ContainerProxy

log = logging.getLogger(__name__)

SPILL_EVERY = 20  # messages the window may grow past `keep` before the oldest move to a page
ITEM_SOFT_LIMIT_BYTES = 1_000_000  # Cosmos DB refuses items over 2 MB: spill well before
MAX_ATTEMPTS = 30  # conditional writes tried before a turn gives up on a very busy session
_SYSTEM_PROPERTIES = ("_rid", "_self", "_etag", "_attachments", "_ts")


@dataclass(frozen=True)
class _Snapshot:
    """The session item as a turn read it (None: there was none)."""

    item: dict[str, Any] | None


class CosmosHistoryStore:
    def __init__(self, container: ContainerProxy, *, keep: int, ttl_seconds: int | None = None) -> None:
        self._container = container
        self._keep = keep  # messages always kept in the session item: a turn loads at most these
        self._ttl = ttl_seconds

    async def load(self, user_id: str, session_id: str, limit: int | None) -> Conversation:
        async with _failures("read"):
            item = await self._read(user_id, session_id)
            if item is None:
                return Conversation(snapshot=_Snapshot(None))
            records = item["messages"]
            if limit is None or len(records) < limit:
                records = await self._older(user_id, item, None if limit is None else limit - len(records)) + records
            if limit is not None:
                records = records[-limit:] if limit else []
        return Conversation(tuple(message_from_record(r) for r in records), _Snapshot(item))

    async def append(
        self, user_id: str, session_id: str, messages: Sequence[Message], loaded: Conversation | None = None
    ) -> None:
        snapshot = loaded.snapshot if loaded and isinstance(loaded.snapshot, _Snapshot) else None
        records = [message_record(m) for m in messages]
        async with _failures("write"):
            for attempt in range(MAX_ATTEMPTS):
                item = snapshot.item if snapshot else await self._read(user_id, session_id)
                try:
                    await self._write(user_id, session_id, item, records)
                    return
                except (CosmosAccessConditionFailedError, CosmosResourceExistsError):
                    # Another turn wrote first: read its result and add ours after it.
                    snapshot = None
                    await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
            log.error("session stayed busy for %d attempts; the exchange was not saved", MAX_ATTEMPTS)
            raise UpstreamError("history_busy", "The conversation was too busy to save this turn; try again.")

    async def list_sessions(self, user_id: str, page_size: int, continuation: str | None) -> SessionPage:
        # The user is in the filter as well as the partition key: scoping never rests on a header alone.
        query = (
            "SELECT c.sessionId, c.title, c.createdAt, c.updatedAt, c.messageCount FROM c "
            "WHERE c.userId = @user AND c.type = 'session' ORDER BY c.updatedAt DESC"
        )
        token = _decode_continuation(continuation) if continuation else None
        async with _failures("read"):
            pages = self._container.query_items(
                query, parameters=[{"name": "@user", "value": user_id}], partition_key=user_id, max_item_count=page_size
            ).by_page(token)
            try:
                rows = [row async for row in await anext(pages)]
            except StopAsyncIteration:
                rows = []
            except CosmosHttpResponseError as exc:
                if continuation and exc.status_code == 400:
                    raise RequestError("continuation is not a token this API returned", field="continuation") from exc
                raise
            token = pages.continuation_token  # type: ignore[attr-defined]  # by_page() returns an AsyncPageIterator; its stubs say AsyncIterator
        sessions = tuple(
            SessionSummary(
                r["sessionId"],
                r["title"],
                datetime.fromisoformat(r["createdAt"]),
                datetime.fromisoformat(r["updatedAt"]),
                r["messageCount"],
            )
            for r in rows
        )
        return SessionPage(sessions, base64.urlsafe_b64encode(token.encode()).decode() if token else None)

    async def delete(self, user_id: str, session_id: str) -> bool:
        query = "SELECT VALUE c.id FROM c WHERE c.userId = @user AND c.sessionId = @session"
        parameters: list[dict[str, object]] = [
            {"name": "@user", "value": user_id},
            {"name": "@session", "value": session_id},
        ]
        async with _failures("write"):
            ids = [i async for i in self._container.query_items(query, parameters=parameters, partition_key=user_id)]
            # The session item first: from then on the session is gone, even if a page delete fails.
            for item_id in sorted(ids, key=lambda i: i != session_id):
                with contextlib.suppress(CosmosResourceNotFoundError):  # deleted concurrently, or expired
                    await self._container.delete_item(item_id, partition_key=user_id)
        return session_id in ids

    async def set_feedback(self, user_id: str, session_id: str, index: int, feedback: Feedback) -> bool:
        """Rewrites the item holding the message (the session item or one of its pages) if
        its ETag is still the one read; a concurrent turn (which may move the message to a
        page) makes it read again."""
        seq = index + 1
        async with _failures("write"):
            for attempt in range(MAX_ATTEMPTS):
                item = await self._read(user_id, session_id)
                if item is None or not 1 <= seq <= item["messageCount"]:
                    return False
                holder = item if any(m["seq"] == seq for m in item["messages"]) else await self._page_of(item, seq)
                if holder is None:  # its page expired
                    return False
                new = {k: v for k, v in holder.items() if k not in _SYSTEM_PROPERTIES}
                new["messages"] = [with_feedback(m, feedback) if m["seq"] == seq else m for m in holder["messages"]]
                try:
                    await self._container.replace_item(
                        holder["id"], new, etag=holder["_etag"], match_condition=MatchConditions.IfNotModified
                    )
                    return True
                except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
                    await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
            raise UpstreamError("history_busy", "The conversation was too busy to save the feedback; try again.")

    async def _page_of(self, item: dict[str, Any], seq: int) -> dict[str, Any] | None:
        for page_id in item["pages"]:
            first, _, last = page_id.rpartition("|")[2].partition("-")
            if int(first) <= seq <= int(last):
                with contextlib.suppress(CosmosResourceNotFoundError):
                    return await self._container.read_item(page_id, partition_key=item["userId"])
        return None

    async def _read(self, user_id: str, session_id: str) -> dict[str, Any] | None:
        try:
            return await self._container.read_item(session_id, partition_key=user_id)
        except CosmosResourceNotFoundError:
            return None

    async def _older(self, user_id: str, item: dict[str, Any], needed: int | None) -> list[dict[str, Any]]:
        """Messages from the session's pages, newest page first, until `needed` (None: all)."""
        older: list[dict[str, Any]] = []
        for page_id in reversed(item["pages"]):
            if needed is not None and len(older) >= needed:
                break
            try:
                page = await self._container.read_item(page_id, partition_key=user_id)
            except CosmosResourceNotFoundError:
                break  # older pages expired (TTL)
            older = page["messages"] + older
        return older

    async def _write(
        self, user_id: str, session_id: str, item: dict[str, Any] | None, records: list[dict[str, Any]]
    ) -> None:
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        if item is None:
            new: dict[str, Any] = {
                "id": session_id,
                "userId": user_id,
                "type": "session",
                "sessionId": session_id,
                "title": session_title([message_from_record(r) for r in records]),
                "createdAt": now,
                "messageCount": 0,
                "pages": [],
                "messages": [],
            }
        else:
            new = {k: v for k, v in item.items() if k not in _SYSTEM_PROPERTIES}
        first_seq = new["messageCount"] + 1
        new["messages"] = new["messages"] + [{**r, "seq": seq} for seq, r in enumerate(records, start=first_seq)]
        new["messageCount"] += len(records)
        new["updatedAt"] = now
        if self._ttl:
            new["ttl"] = self._ttl  # counted from this write: a session expires after its last turn
        spill = self._spill_count(new["messages"])
        if spill:
            moved = new["messages"][:spill]
            page_id = f"{session_id}|{moved[0]['seq']}-{moved[-1]['seq']}"
            page = {"id": page_id, "userId": user_id, "type": "page", "sessionId": session_id, "messages": moved}
            if self._ttl:
                page["ttl"] = self._ttl
            # Written before the session item points to it. If that conditional write then
            # loses a race, this page is an unreferenced copy: ignored, and removed with the session.
            await self._container.upsert_item(page)
            new["pages"] = [*new["pages"], page_id]
            new["messages"] = new["messages"][spill:]
        if item is None:
            await self._container.create_item(new)
        else:
            await self._container.replace_item(
                session_id, new, etag=item["_etag"], match_condition=MatchConditions.IfNotModified
            )

    def _spill_count(self, window: list[dict[str, Any]]) -> int:
        """How many of the oldest messages move to a page: none until the window has grown
        SPILL_EVERY past `keep`, and more if the item would get too large to store."""
        move = len(window) - self._keep if len(window) >= self._keep + SPILL_EVERY else 0
        sizes = [len(json.dumps(r, ensure_ascii=False).encode()) for r in window]
        while move < len(window) - 1 and sum(sizes[move:]) > ITEM_SOFT_LIMIT_BYTES:
            move += 1
        return move


@contextlib.asynccontextmanager
async def _failures(action: str) -> AsyncIterator[None]:
    """Cosmos DB failures as UpstreamError, details to the log; RequestError passes through."""
    try:
        yield
    except AzureError as exc:
        log.error("Cosmos DB %s failed: %s", action, getattr(exc, "status_code", None) or type(exc).__name__)
        raise UpstreamError("history_failed", "The conversation history could not be read or saved.") from exc


def _decode_continuation(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise RequestError("continuation is not a token this API returned", field="continuation") from exc
