"""The embedded history store: conversations in a SQLite file, one row per message.

Every row is keyed by (user, session), so a session id alone never reaches another
user's conversation. Appends run in one write transaction, so concurrent turns on one
session are all kept, in order, none lost or duplicated.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from shared.core.errors import UpstreamError
from shared.core.types import Message, Source

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    sources TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (user_id, session_id, seq)
);
"""


class SqliteHistoryStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    async def load(self, user_id: str, session_id: str, limit: int) -> tuple[Message, ...]:
        return await self._run(self._load, user_id, session_id, limit)

    async def append(self, user_id: str, session_id: str, messages: Sequence[Message]) -> None:
        await self._run(self._append, user_id, session_id, messages)

    async def _run(self, work, *args):
        try:
            return await asyncio.to_thread(work, *args)
        except sqlite3.Error as exc:
            raise UpstreamError("history_failed", "The conversation history could not be read or saved.") from exc

    def _load(self, user_id: str, session_id: str, limit: int) -> tuple[Message, ...]:
        with self._lock:
            rows = self._db.execute(
                "SELECT role, content, sources FROM (SELECT * FROM messages WHERE user_id = ? AND session_id = ? "
                "ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                (user_id, session_id, limit),
            ).fetchall()
        return tuple(
            Message(role, content, tuple(Source(**s) for s in json.loads(sources))) for role, content, sources in rows
        )

    def _append(self, user_id: str, session_id: str, messages: Sequence[Message]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (last,) = self._db.execute(
                    "SELECT coalesce(max(seq), 0) FROM messages WHERE user_id = ? AND session_id = ?",
                    (user_id, session_id),
                ).fetchone()
                self._db.executemany(
                    "INSERT INTO messages (user_id, session_id, seq, role, content, sources) VALUES (?,?,?,?,?,?)",
                    [
                        (user_id, session_id, last + i, m.role, m.content, json.dumps([s.__dict__ for s in m.sources]))
                        for i, m in enumerate(messages, start=1)
                    ],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
