"""The vectors of the extractive answers' candidates, made at ingestion and stored with the chunks.

An extractive answer scores every sentence, list item and table row of the retrieved chunks
against the question, by their embeddings among other things (shared.core.answers). Embedding
those candidates when a question comes took ~80 % of a turn on a PDF corpus. So the embedded
index keeps, beside each chunk, the vector of each text its candidates are embedded from
(shared.core.answers.scored_texts), keyed by a hash of that text, and the answerer's
embeddings (StoredPassageVectors) read them there: only a text the index lacks (an attachment,
an Azure AI Search chunk, a chunk ingested before this table or before the candidates changed)
is embedded when the question comes. The vectors are the embedder's own, so answers are the same.

`complete` brings the table in step with the chunks after an ingestion run: the texts of each
chunk as the answerer forms them now, each embedded once (a text two chunks share is embedded
once and copied), the rows of texts no longer formed dropped. A chunk's rows go when it goes
(a trigger, shared.retrieval.embedded_tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import numpy as np

from shared.core.interfaces import Embeddings
from shared.core.types import Source
from shared.retrieval.schema import SCALAR_COLUMNS

log = logging.getLogger("ingest")

Embed = Callable[[list[str]], Awaitable[Sequence[np.ndarray]]]


class IndexTables(Protocol):
    """What the vectors' table needs of the index it sits beside (an EmbeddedIndex)."""

    name: str

    def connection(self, *, transaction: bool = False) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...


_EMBED_BATCH = 512  # texts embedded, then written, at a time: an interrupted run keeps what it made
_LOOKUP_BATCH = 500  # keys per query, under SQLite's limit on parameters


def key(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:16]


class StoredPassageVectors:
    """The answerer's embeddings: a candidate's vector from an index that holds it, else computed."""

    def __init__(self, embeddings: Embeddings, indexes: Sequence[IndexTables]) -> None:
        self._embeddings = embeddings
        self._indexes = indexes
        self.name, self.dimensions = embeddings.name, embeddings.dimensions

    async def embed_query(self, text: str) -> np.ndarray:
        return await self._embeddings.embed_query(text)

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        keys = [key(t) for t in texts]
        stored = await asyncio.to_thread(self._lookup, keys)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in stored))
        if missing:
            for text, vector in zip(missing, await self._embeddings.embed_documents(missing), strict=True):
                stored[key(text)] = vector
        return np.vstack([stored[k] for k in keys]) if keys else np.zeros((0, self.dimensions), np.float32)

    def _lookup(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for index in self._indexes:
            if rest := [k for k in keys if k not in found]:
                found.update(lookup(index, rest, self.name))
        return found


def lookup(index: IndexTables, keys: Sequence[bytes], model: str) -> dict[bytes, np.ndarray]:
    """The stored vectors of these keys that `model` made (none when the index's vectors are another model's)."""
    found: dict[bytes, np.ndarray] = {}
    unique = list(dict.fromkeys(keys))
    with index.connection() as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'embedding_model'").fetchone()
        if not row or row[0] != model:
            return found
        for start in range(0, len(unique), _LOOKUP_BATCH):
            batch = unique[start : start + _LOOKUP_BATCH]
            rows = db.execute(
                f"SELECT key, embedding FROM passage_vectors WHERE key IN ({', '.join('?' * len(batch))})", batch
            )
            found.update((k, np.frombuffer(blob, dtype=np.float32)) for k, blob in rows)
    return found


async def complete(index: IndexTables, embed: Embed, filename: str | None = None) -> int:
    """Store the vectors every chunk's candidates need and the index lacks (of every chunk, or of the
    document `filename`'s); drop those no longer needed. Returns how many texts were embedded."""
    from shared.core.answers import scored_texts  # deferred: the ingestion command needs it here only

    started = time.perf_counter()
    chunks, stored = await asyncio.to_thread(_read, index, filename)
    needed: dict[int, dict[bytes, str]] = await asyncio.to_thread(
        lambda: {rowid: {key(t): t for t in scored_texts(source)} for rowid, source in chunks.items()}
    )
    stale = [(rowid, k) for rowid, k in stored if k not in needed.get(rowid, {})]
    have = {k for rowid, k in stored if k in needed.get(rowid, {})}  # what stays, to copy from
    missing = [(rowid, k) for rowid, texts in needed.items() for k in texts if (rowid, k) not in stored]
    new = {k: needed[rowid][k] for rowid, k in missing if k not in have}
    if missing or stale:
        log.info("answer candidates: %d texts to embed for %d chunks", len(new), len({r for r, _ in missing}))
    await asyncio.to_thread(_write, index, stale, [], {})
    texts = list(new.values())
    for start in range(0, len(texts), _EMBED_BATCH):
        batch = texts[start : start + _EMBED_BATCH]
        vectors = dict(zip((key(t) for t in batch), await embed(batch), strict=True))
        await asyncio.to_thread(_write, index, [], [(r, k) for r, k in missing if k in vectors], vectors)
    # Texts already stored for another chunk: copied, not embedded again.
    await asyncio.to_thread(_write, index, [], [(r, k) for r, k in missing if k in have], {})
    if texts:
        log.info("answer candidates: %d texts embedded in %.1f s", len(texts), time.perf_counter() - started)
    return len(texts)


def _read(index: IndexTables, filename: str | None = None) -> tuple[dict[int, Source], set[tuple[int, bytes]]]:
    """Every chunk (or the document `filename`'s) as the retriever would give it, and their
    (chunk, key) pairs stored."""
    columns = ", ".join(f'"{c}"' for c in SCALAR_COLUMNS)
    where, parameters = ("WHERE filename = ?", (filename,)) if filename is not None else ("", ())
    with index.connection() as db:
        chunks = {
            row[0]: Source(str(row[0]), index.name, 0.0, fields["text"], fields)
            for row in db.execute(f"SELECT rowid, {columns} FROM chunks {where}", parameters)
            for fields in (dict(zip(SCALAR_COLUMNS, row[1:], strict=True)),)
        }
        of_chunks = "" if filename is None else "WHERE chunk IN (SELECT rowid FROM chunks WHERE filename = ?)"
        stored = set(db.execute(f"SELECT chunk, key FROM passage_vectors {of_chunks}", parameters))
    return chunks, stored


Pair = tuple[int, bytes]  # (chunk rowid, key)


def _write(index: IndexTables, stale: list[Pair], pairs: list[Pair], vectors: dict[bytes, np.ndarray]) -> None:
    """Drop the stale pairs; store each pair's vector, from `vectors` or copied from the row of another
    chunk holding the same text. A chunk deleted meanwhile gets none (nor an orphan row)."""
    if not (stale or pairs):
        return
    with index.connection(transaction=True) as db:
        db.executemany("DELETE FROM passage_vectors WHERE chunk = ? AND key = ?", stale)
        exists = "EXISTS (SELECT 1 FROM chunks WHERE rowid = ?)"
        db.executemany(
            f"INSERT OR IGNORE INTO passage_vectors (chunk, key, embedding) SELECT ?, ?, ? WHERE {exists}",
            [(r, k, np.asarray(vectors[k], np.float32).tobytes(), r) for r, k in pairs if k in vectors],
        )
        db.executemany(
            "INSERT OR IGNORE INTO passage_vectors (chunk, key, embedding) SELECT ?, key, embedding "
            f"FROM passage_vectors WHERE key = ? AND {exists} LIMIT 1",
            [(r, k, r) for r, k in pairs if k not in vectors],
        )
