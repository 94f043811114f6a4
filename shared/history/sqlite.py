"""The embedded history store: conversations in a SQLite file.

A `sessions` row per (user, session) and a `session_messages` row per message, all keyed
by user first, so a session id alone never reaches another user's conversation. Appends
run in one write transaction, so concurrent turns on one session are all kept, in order,
none lost or duplicated. With a TTL, a session and its messages expire that long after
its last turn.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from shared.core.errors import RequestError, UpstreamError
from shared.core.types import Conversation, Feedback, Message, SessionPage, SessionSummary
from shared.history.records import message_from_record, message_record, session_title, with_feedback

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    message_count INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_id)
);
CREATE INDEX IF NOT EXISTS sessions_by_activity ON sessions (user_id, updated_at DESC, session_id);
CREATE TABLE IF NOT EXISTS session_messages (
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (user_id, session_id, seq)
);
"""


class SqliteHistoryStore:
    def __init__(self, path: Path, ttl_seconds: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._ttl = ttl_seconds

    async def load(self, user_id: str, session_id: str, limit: int | None) -> Conversation:
        return await self._run(self._load, user_id, session_id, limit)

    async def append(
        self, user_id: str, session_id: str, messages: Sequence[Message], loaded: Conversation | None = None
    ) -> None:
        await self._run(self._append, user_id, session_id, messages)

    async def list_sessions(self, user_id: str, page_size: int, continuation: str | None) -> SessionPage:
        after = _decode_continuation(continuation) if continuation else None
        return await self._run(self._list, user_id, page_size, after)

    async def delete(self, user_id: str, session_id: str) -> bool:
        return await self._run(self._delete, user_id, session_id)

    async def set_feedback(self, user_id: str, session_id: str, index: int, feedback: Feedback) -> bool:
        return await self._run(self._set_feedback, user_id, session_id, index, feedback)

    async def _run(self, work, *args):
        try:
            return await asyncio.to_thread(work, *args)
        except sqlite3.Error as exc:
            raise UpstreamError("history_failed", "The conversation history could not be read or saved.") from exc

    def _live_after(self) -> float:
        """Sessions last active before this time have expired."""
        return time.time() - self._ttl if self._ttl else float("-inf")

    def _load(self, user_id: str, session_id: str, limit: int | None) -> Conversation:
        with self._lock:
            alive = self._db.execute(
                "SELECT 1 FROM sessions WHERE user_id = ? AND session_id = ? AND updated_at >= ?",
                (user_id, session_id, self._live_after()),
            ).fetchone()
            if not alive:
                return Conversation()
            rows = self._db.execute(
                "SELECT record FROM (SELECT seq, record FROM session_messages WHERE user_id = ? AND session_id = ? "
                "ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                (user_id, session_id, -1 if limit is None else limit),
            ).fetchall()
        return Conversation(tuple(message_from_record(json.loads(record)) for (record,) in rows))

    def _append(self, user_id: str, session_id: str, messages: Sequence[Message]) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._expire(now)
                self._db.execute(
                    "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO UPDATE SET updated_at = ?",
                    (user_id, session_id, session_title(messages), now, now, now),
                )
                (last,) = self._db.execute(
                    "SELECT message_count FROM sessions WHERE user_id = ? AND session_id = ?", (user_id, session_id)
                ).fetchone()
                self._db.executemany(
                    "INSERT INTO session_messages VALUES (?, ?, ?, ?)",
                    [
                        (user_id, session_id, seq, json.dumps(message_record(m), ensure_ascii=False))
                        for seq, m in enumerate(messages, start=last + 1)
                    ],
                )
                self._db.execute(
                    "UPDATE sessions SET message_count = ? WHERE user_id = ? AND session_id = ?",
                    (last + len(messages), user_id, session_id),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _set_feedback(self, user_id: str, session_id: str, index: int, feedback: Feedback) -> bool:
        key = (user_id, session_id, index + 1)  # seq counts from 1 and has no gaps
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT record FROM session_messages JOIN sessions USING (user_id, session_id) "
                    "WHERE user_id = ? AND session_id = ? AND seq = ? AND updated_at >= ?",
                    (*key, self._live_after()),
                ).fetchone()
                if row is not None:
                    record = with_feedback(json.loads(row[0]), feedback)
                    self._db.execute(
                        "UPDATE session_messages SET record = ? WHERE user_id = ? AND session_id = ? AND seq = ?",
                        (json.dumps(record, ensure_ascii=False), *key),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return row is not None

    def _expire(self, now: float) -> None:
        if not self._ttl:
            return
        cutoff = now - self._ttl
        self._db.execute(
            "DELETE FROM session_messages WHERE (user_id, session_id) IN "
            "(SELECT user_id, session_id FROM sessions WHERE updated_at < ?)",
            (cutoff,),
        )
        self._db.execute("DELETE FROM sessions WHERE updated_at < ?", (cutoff,))

    def _list(self, user_id: str, page_size: int, after: tuple[float, str] | None) -> SessionPage:
        # Keyset paging: the continuation is the last row's (updated_at, session_id).
        updated_before, id_after = after or (float("inf"), "")
        with self._lock:
            rows = self._db.execute(
                "SELECT session_id, title, created_at, updated_at, message_count FROM sessions "
                "WHERE user_id = ? AND updated_at >= ? AND (updated_at < ? OR (updated_at = ? AND session_id > ?)) "
                "ORDER BY updated_at DESC, session_id LIMIT ?",
                (user_id, self._live_after(), updated_before, updated_before, id_after, page_size + 1),
            ).fetchall()
        more = len(rows) > page_size
        rows = rows[:page_size]
        sessions = tuple(
            SessionSummary(session_id, title, _utc(created), _utc(updated), count)
            for session_id, title, created, updated, count in rows
        )
        return SessionPage(sessions, _encode_continuation(rows[-1][3], rows[-1][0]) if more else None)

    def _delete(self, user_id: str, session_id: str) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM session_messages WHERE user_id = ? AND session_id = ?", (user_id, session_id))
            deleted = self._db.execute(
                "DELETE FROM sessions WHERE user_id = ? AND session_id = ?", (user_id, session_id)
            ).rowcount
            self._db.execute("COMMIT")
        return deleted > 0


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _encode_continuation(updated_at: float, session_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([updated_at, session_id]).encode()).decode()


def _decode_continuation(token: str) -> tuple[float, str]:
    try:
        updated_at, session_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(updated_at), str(session_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise RequestError("continuation is not a token this API returned", field="continuation") from exc
