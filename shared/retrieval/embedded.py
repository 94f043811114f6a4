"""The embedded search index: one SQLite file with BM25 full-text (FTS5) and vectors.

Full-text ranking is FTS5's BM25 (k1=1.2, b=0.75, as Azure AI Search). Vector search is
exact cosine similarity over a float32 matrix kept in memory and reloaded when the index
changes. Hybrid search fuses both rankings by reciprocal rank fusion with k=60, as Azure does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.core.errors import RequestError, UpstreamError
from shared.core.interfaces import Embeddings
from shared.core.types import RetrievalSpec, SearchResult, Source

RRF_K = 60
# Each ranking contributes this many candidates to the fusion (Azure uses 50 for text).
FUSION_CANDIDATES = 50
SELECTABLE_FIELDS = ("id", "filename", "title", "chunk_index", "page", "text")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    filename TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    title TEXT,
    chunk_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    title TEXT,
    chunk_index INTEGER NOT NULL,
    page INTEGER,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_filename ON chunks (filename);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
    title, text, content='chunks', content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
END;
"""


@dataclass(frozen=True)
class Chunk:
    filename: str
    title: str | None
    chunk_index: int
    page: int | None
    text: str

    @property
    def id(self) -> str:
        # Stable across re-ingestion and valid as an Azure AI Search key.
        return f"{hashlib.sha1(self.filename.encode()).hexdigest()[:16]}-{self.chunk_index}"


def fts_query(text: str) -> str:
    """Any-term match of the words in `text`, quoted so user input is never FTS5 syntax."""
    return " OR ".join(f'"{word}"' for word in re.findall(r"\w+", text.lower()))


def reciprocal_rank_fusion(*rankings: Sequence[int], k: int = RRF_K) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


class EmbeddedIndex:
    """Reads and writes the index file. Thread-safe: one connection, one lock."""

    def __init__(self, path: Path, name: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._vectors: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._vector_rowids: np.ndarray = np.zeros(0, dtype=np.int64)
        self._loaded_generation: str | None = None

    # --- writing (ingestion) ---

    def document_hashes(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT filename, content_hash FROM documents"))

    def replace_document(
        self, filename: str, content_hash: str, title: str | None, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
        """Swap a document's chunks in one transaction, so a re-run never leaves duplicates."""
        rows = [
            (c.id, c.filename, c.title, c.chunk_index, c.page, c.text, np.asarray(v, dtype=np.float32).tobytes())
            for c, v in zip(chunks, vectors, strict=True)
        ]
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM chunks WHERE filename = ?", (filename,))
            self._db.executemany(
                "INSERT INTO chunks (id, filename, title, chunk_index, page, text, embedding) VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            self._db.execute(
                "INSERT OR REPLACE INTO documents (filename, content_hash, title, chunk_count) VALUES (?,?,?,?)",
                (filename, content_hash, title, len(rows)),
            )
            self._bump_generation()

    def delete_document(self, filename: str) -> None:
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM chunks WHERE filename = ?", (filename,))
            self._db.execute("DELETE FROM documents WHERE filename = ?", (filename,))
            self._bump_generation()

    def chunk_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _bump_generation(self) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # --- searching ---

    def search(self, text: str, vector: np.ndarray | None, top_k: int) -> list[tuple[dict[str, Any], float]]:
        """Rows and scores, best first: BM25 alone, or RRF of BM25 and cosine when `vector` is given."""
        with self._lock:
            text_hits = self._text_ranking(text, max(top_k, FUSION_CANDIDATES) if vector is not None else top_k)
            if vector is None:
                ranked = text_hits[:top_k]
            else:
                vector_hits = self._vector_ranking(vector, max(top_k, FUSION_CANDIDATES))
                fused = reciprocal_rank_fusion([r for r, _ in text_hits], [r for r, _ in vector_hits])
                ranked = fused[:top_k]
            return self._rows(ranked)

    def _text_ranking(self, text: str, limit: int) -> list[tuple[int, float]]:
        query = fts_query(text)
        if not query:
            return []
        return self._db.execute(
            "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY bm25(chunks_fts) LIMIT ?",
            (query, limit),
        ).fetchall()

    def _vector_ranking(self, vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        self._refresh_vectors()
        if not len(self._vector_rowids):
            return []
        similarities = self._vectors @ vector
        limit = min(limit, len(similarities))
        best = np.argpartition(-similarities, limit - 1)[:limit]
        best = best[np.argsort(-similarities[best])]
        return [(int(self._vector_rowids[i]), float(similarities[i])) for i in best]

    def _refresh_vectors(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = row[0] if row else None
        if generation == self._loaded_generation:
            return
        rows = self._db.execute("SELECT rowid, embedding FROM chunks ORDER BY rowid").fetchall()
        self._vector_rowids = np.array([r for r, _ in rows], dtype=np.int64)
        self._vectors = (
            np.vstack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
            if rows
            else np.zeros((0, 0), dtype=np.float32)
        )
        self._loaded_generation = generation

    def _rows(self, ranked: Sequence[tuple[int, float]]) -> list[tuple[dict[str, Any], float]]:
        if not ranked:
            return []
        placeholders = ",".join("?" * len(ranked))
        columns = ", ".join(SELECTABLE_FIELDS)
        cursor = self._db.execute(
            f"SELECT rowid, {columns} FROM chunks WHERE rowid IN ({placeholders})", [r for r, _ in ranked]
        )
        by_rowid = {row[0]: dict(zip(SELECTABLE_FIELDS, row[1:], strict=True)) for row in cursor}
        return [(by_rowid[rowid], score) for rowid, score in ranked if rowid in by_rowid]


class EmbeddedRetriever:
    def __init__(
        self,
        index: EmbeddedIndex,
        embeddings: Embeddings,
        default_top_k: int,
        max_top_k: int,
        default_vector_search: bool,
    ) -> None:
        self._index = index
        self._embeddings = embeddings
        self._default_top_k = default_top_k
        self._max_top_k = max_top_k
        self._default_vector_search = default_vector_search
        self.index_name = index.name

    async def search(self, question: str, spec: RetrievalSpec) -> SearchResult:
        top_k = self._default_top_k if spec.top_k is None else spec.top_k
        if not 0 <= top_k <= self._max_top_k:
            raise RequestError(f"top_k must be between 0 and {self._max_top_k}, got {top_k}", field="top_k")
        select = spec.select_fields or SELECTABLE_FIELDS
        unknown = [f for f in select if f not in SELECTABLE_FIELDS]
        if unknown:
            raise RequestError(
                f"unknown field(s) in select_fields: {', '.join(unknown)}; available: {', '.join(SELECTABLE_FIELDS)}",
                field="select_fields",
            )
        if top_k == 0:
            return SearchResult(sources=(), index_name=self.index_name)

        query = spec.query or question
        use_vectors = self._default_vector_search if spec.vector_search is None else spec.vector_search
        try:
            vector = await self._embeddings.embed_query(query) if use_vectors else None
            hits = await asyncio.to_thread(self._index.search, query, vector, top_k)
        except sqlite3.Error as exc:
            raise UpstreamError("search_failed", "The knowledge base search failed.") from exc
        sources = tuple(
            Source(
                id=row["id"],
                index_name=self.index_name,
                score=score,
                text=row["text"],
                fields={name: row[name] for name in select},
            )
            for row, score in hits
        )
        return SearchResult(sources=sources, index_name=self.index_name)
