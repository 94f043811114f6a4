"""The embedded search index: one SQLite file with BM25 full-text (FTS5) and vectors.

It gives the same semantics as Azure AI Search for the same request: full-text ranking is
FTS5's BM25 (k1=1.2, b=0.75, as Azure); vector search is exact cosine similarity over a
float32 matrix kept in memory and reloaded when the index changes; hybrid search fuses
both rankings by reciprocal rank fusion with k=60, as Azure does. OData filters become
SQL (shared.retrieval.odata); facets and the total count cover every matching document,
not just the top k; highlights wrap matched terms in <em></em>.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.core.errors import UpstreamError
from shared.core.interfaces import Embeddings
from shared.core.types import Chunk, RetrievalSpec, SearchResult, Source
from shared.retrieval import bulk_load, odata
from shared.retrieval.embedded_ranking import (
    SAMPLE_ROWS,
    Filters,
    first_rowids,
    text_ranking,
    vector_ranking,
)
from shared.retrieval.embedded_tables import (
    PASSAGE_VECTORS,
    PASSAGE_VECTORS_SQL,
    SAME_TABLES,
    SCHEMA_VERSION,
    schema_sql,
)
from shared.retrieval.query import FUSION_CANDIDATES, RRF_K, SearchOptions, SearchPlan
from shared.retrieval.schema import BY_NAME, COLLECTIONS, SCALAR_COLUMNS

log = logging.getLogger(__name__)

_FTS_COLUMNS = ("title", "section", "text")  # the searchable fields, in FTS column order


def fts_query(text: str) -> str:
    """Any-term match of the words in `text`, quoted so user input is never FTS5 syntax."""
    return " OR ".join(f'"{word}"' for word in re.findall(r"\w+", text.lower()))


def reciprocal_rank_fusion(
    *rankings: Sequence[int], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Keys by the sum over rankings of weight / (k + rank), best first."""
    scores: dict[int, float] = {}
    for ranked, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, key in enumerate(ranked, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


class EmbeddingModelMismatch(Exception):
    """The index's vectors were made by another embedding model than the query's."""


@dataclass
class IndexHits:
    rows: list[tuple[dict[str, Any], float]]
    count: int | None = None
    facets: dict[str, list[dict[str, Any]]] | None = None
    highlights: dict[str, dict[str, list[str]]] = field(default_factory=dict)


class EmbeddedIndex:
    """Reads and writes the index file. Thread-safe: one connection, one lock."""

    def __init__(self, path: Path, name: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._migrate()
        self._filters = Filters(self._db)
        self._lock = threading.Lock()
        self._vectors: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._vector_rowids: np.ndarray = np.zeros(0, dtype=np.int64)
        self._loaded_generation: str | None = None

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        drops = []
        if row and row[0] in SAME_TABLES:
            log.info("the index schema changed: the indexes of %s are rebuilt, its chunks kept", self.name)
            drops = [
                f'DROP INDEX IF EXISTS "{name}";'
                for (name,) in self._db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    "AND tbl_name IN ('chunks', 'chunk_values')"
                )
            ]
        elif row and row[0] != SCHEMA_VERSION:
            log.warning("the index schema changed: %s is rebuilt empty; run the ingestion again", self.name)
            tables = ("chunks_fts", "chunk_values", "chunk_vectors", PASSAGE_VECTORS, "chunks", "documents", "meta")
            drops = [f"DROP TABLE IF EXISTS {table};" for table in tables]
        # One transaction: another process opening the file at the same time finds it whole.
        self._db.executescript(
            "BEGIN IMMEDIATE;\n"
            + "\n".join(drops)
            + schema_sql()
            + PASSAGE_VECTORS_SQL  # added to older files as it is: ingestion fills it
            + f"INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}');\nCOMMIT;"
        )

    # --- writing (ingestion) ---

    def document_hashes(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT filename, content_hash FROM documents"))

    def document_hash(self, filename: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT content_hash FROM documents WHERE filename = ?", (filename,)).fetchone()
        return row[0] if row else None

    def replace_document(
        self, filename: str, content_hash: str, chunks: Sequence[Chunk], vectors: Sequence[np.ndarray]
    ) -> None:
        """Swap a document's chunks in one transaction, so a re-run never leaves duplicates."""
        self.replace_documents([(filename, content_hash, chunks, vectors)])

    def replace_documents(self, documents: Sequence[bulk_load.Document]) -> None:
        """Swap many documents' chunks in one transaction (shared.retrieval.bulk_load)."""
        with self._lock, self._transaction():
            bulk_load.write(self._db, documents)
            self._bump_generation()

    def delete_document(self, filename: str) -> None:
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM chunks WHERE filename = ?", (filename,))
            self._db.execute("DELETE FROM documents WHERE filename = ?", (filename,))
            self._bump_generation()

    def chunk_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def ensure_embedding_model(self, model: str, dimensions: int) -> None:
        """Record which model made the index's vectors. An index holding another model's vectors
        (or vectors of a model it never recorded) is emptied, with a warning, so that the
        ingestion indexes every file anew: vectors of two models are never mixed or compared."""
        with self._lock:
            meta = self._meta()
            recorded = (meta.get("embedding_model"), meta.get("dimensions"))
            if recorded == (model, str(dimensions)):
                return
            chunks = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            with self._transaction():
                if chunks:
                    log.warning(
                        "index %s holds vectors of %s (%s dimensions), not of the configured embedding model "
                        "%s (%d): its %d chunks are dropped and every file is indexed anew",
                        self.name,
                        recorded[0] or "an unrecorded model",
                        recorded[1] or "?",
                        model,
                        dimensions,
                        chunks,
                    )
                    self._db.execute("DELETE FROM chunks")  # the triggers clear the vectors, values and text
                    self._db.execute("DELETE FROM documents")
                    self._bump_generation()
                self._db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [("embedding_model", model), ("dimensions", str(dimensions))],
                )

    @contextlib.contextmanager
    def connection(self, *, transaction: bool = False) -> Iterator[sqlite3.Connection]:
        """The index's connection under its lock, in a transaction if asked: for the tables kept
        beside the chunks (shared.retrieval.passage_vectors)."""
        with self._lock, self._transaction() if transaction else contextlib.nullcontext():
            yield self._db

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

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

    def search(self, plan: SearchPlan, vector: np.ndarray | None, embedding_model: str | None = None) -> IndexHits:
        """Rows and scores, best first: BM25 alone, RRF of BM25 and cosine when `vector` is given,
        or cosine alone for a vector-only plan. `embedding_model` made `vector`: an index whose
        vectors another model made raises EmbeddingModelMismatch instead of ranking by them."""
        where = odata.to_sql(plan.filter, "chunk_values") if plan.filter is not None else None
        match = fts_query(plan.text)
        with self._lock:
            self._filters.at(self._refresh_vectors())
            if vector is not None and embedding_model is not None:
                self._check_embedding_model(embedding_model)
            # Hybrid fuses the top candidates of each ranking; full-text alone needs just the top k.
            candidates = max(plan.top_k, FUSION_CANDIDATES) if vector is not None else plan.top_k
            total = len(self._vector_rowids)
            narrow, broad = self._filter_rows(where if match or vector is not None else None, total, vector is not None)
            vectors = (self._vector_rowids, self._vectors)
            text_hits = (
                [] if plan.vector_only else text_ranking(self._filters, match, where, narrow, candidates, broad=broad)
            )
            if vector is None and not match:  # "*": every document the filter lets through, as Azure
                ranked = [(rowid, 1.0) for rowid in first_rowids(self._db, where, plan.top_k)]
            elif vector is None:
                ranked = text_hits
            elif plan.vector_only:
                ranked = vector_ranking(self._db, vectors, vector, where, narrow, plan.top_k)
            else:
                vector_hits = vector_ranking(self._db, vectors, vector, where, narrow, candidates)
                ranked = reciprocal_rank_fusion(
                    [r for r, _ in text_hits], [r for r, _ in vector_hits], weights=(1.0, plan.vector_weight)
                )[: plan.top_k]
            hits = IndexHits(rows=self._rows(ranked))
            matching = self._matching(match, where)
            if plan.include_total_count:
                hits.count = self._db.execute(
                    f"SELECT count(*) FROM chunks WHERE {matching.where}", matching.params
                ).fetchone()[0]
            if plan.facets:
                hits.facets = {f.field: self._facet(f.field, f.count, matching) for f in plan.facets}
            if plan.highlight_fields and match:
                hits.highlights = self._highlights(match, plan.highlight_fields, [r for r, _ in ranked])
            return hits

    def _filter_rows(self, where: odata.SqlFilter | None, total: int, hybrid: bool) -> tuple[np.ndarray | None, bool]:
        """(the filter's rows when it is narrow, whether it is broad). A vector ranking needs to know
        whether the filter is narrow; full text alone first guesses on a sample of rows."""
        if where is None:
            return None, False
        if not hybrid and self._filters.looks_broad(where, self._vector_rowids[:: max(1, total // SAMPLE_ROWS)]):
            return None, True
        narrow = self._filters.narrow(where, total)
        return narrow, hybrid and narrow is None

    def _check_embedding_model(self, model: str) -> None:
        recorded = self._meta().get("embedding_model")
        if recorded != model and len(self._vector_rowids):
            raise EmbeddingModelMismatch(
                f"index {self.name} holds vectors of {recorded or 'an unrecorded model'}, not of the configured "
                f"embedding model {model}: run the ingestion again (python -m devtools.ingest), which rebuilds it"
            )

    def _matching(self, match: str, where: odata.SqlFilter | None) -> odata.SqlFilter:
        """Every document the query matches: the filter, and the full-text terms when there are any."""
        clauses, params = [], []
        if match:
            clauses.append("chunks.rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?)")
            params.append(match)
        if where:
            clauses.append(where.where)
            params.extend(where.params)
        return odata.SqlFilter(" AND ".join(clauses) or "1", tuple(params))

    def _refresh_vectors(self) -> str | None:
        """The index's generation, the vectors reloaded when it changed (another process may write)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = row[0] if row else None
        if generation == self._loaded_generation:
            return generation
        rows = self._db.execute("SELECT rowid, embedding FROM chunk_vectors ORDER BY rowid").fetchall()
        self._vector_rowids = np.array([r for r, _ in rows], dtype=np.int64)
        self._vectors = (
            np.vstack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
            if rows
            else np.zeros((0, 0), dtype=np.float32)
        )
        self._loaded_generation = generation
        return generation

    def _facet(self, name: str, count: int, matching: odata.SqlFilter) -> list[dict[str, Any]]:
        if BY_NAME[name].is_collection:
            sql = (
                "SELECT value, count(*) FROM chunk_values WHERE field = ? "
                f"AND chunk IN (SELECT chunks.rowid FROM chunks WHERE {matching.where}) "
                "GROUP BY value ORDER BY count(*) DESC, value LIMIT ?"
            )
            params = (name, *matching.params, count)
        else:
            sql = (
                f'SELECT "{name}", count(*) FROM chunks WHERE {matching.where} AND "{name}" IS NOT NULL '
                f'GROUP BY "{name}" ORDER BY count(*) DESC, "{name}" LIMIT ?'
            )
            params = (*matching.params, count)
        return [{"value": value, "count": n} for value, n in self._db.execute(sql, params)]

    def _highlights(self, match: str, fields: Sequence[str], rowids: list[int]) -> dict[str, dict[str, list[str]]]:
        if not rowids:
            return {}
        snippets = ", ".join(
            f"snippet(chunks_fts, {_FTS_COLUMNS.index(f)}, '<em>', '</em>', '...', 32)" for f in fields
        )
        rows = self._db.execute(
            f"SELECT chunks.id, {snippets} FROM chunks_fts JOIN chunks ON chunks.rowid = chunks_fts.rowid "
            f"WHERE chunks_fts MATCH ? AND chunks_fts.rowid IN ({', '.join('?' * len(rowids))})",
            (match, *rowids),
        )
        return {
            row[0]: {f: [text] for f, text in zip(fields, row[1:], strict=True) if text and "<em>" in text}
            for row in rows
        }

    def _rows(self, ranked: Sequence[tuple[int, float]]) -> list[tuple[dict[str, Any], float]]:
        if not ranked:
            return []
        columns = ", ".join(f'"{c}"' for c in SCALAR_COLUMNS)
        cursor = self._db.execute(
            f"SELECT rowid, {columns} FROM chunks WHERE rowid IN ({', '.join('?' * len(ranked))})",
            [r for r, _ in ranked],
        )
        by_rowid = {row[0]: dict(zip(SCALAR_COLUMNS, row[1:], strict=True)) for row in cursor}
        for name in COLLECTIONS:
            for rowid in by_rowid:
                by_rowid[rowid][name] = []
            placeholders = ", ".join("?" * len(by_rowid))
            cursor = self._db.execute(
                f"SELECT chunk, value FROM chunk_values WHERE field = ? AND chunk IN ({placeholders}) "
                "ORDER BY chunk, rowid",
                (name, *by_rowid),
            )
            for rowid, value in cursor:
                by_rowid[rowid][name].append(value)
        return [(by_rowid[rowid], score) for rowid, score in ranked if rowid in by_rowid]


class EmbeddedIndexWriter:
    """Ingestion's async view of the embedded index (the same interface as Azure's writer)."""

    def __init__(self, index: EmbeddedIndex) -> None:
        self._index = index
        self.name = index.name

    async def ensure_index(self, model: str, dimensions: int) -> None:
        await asyncio.to_thread(self._index.ensure_embedding_model, model, dimensions)

    async def document_hashes(self) -> dict[str, str]:
        return await asyncio.to_thread(self._index.document_hashes)

    async def document_hash(self, filename: str) -> str | None:
        return await asyncio.to_thread(self._index.document_hash, filename)

    async def replace_documents(self, documents: Sequence[bulk_load.Document]) -> None:
        await asyncio.to_thread(self._index.replace_documents, documents)

    async def delete_document(self, filename: str) -> None:
        await asyncio.to_thread(self._index.delete_document, filename)

    async def chunk_count(self) -> int:
        return await asyncio.to_thread(self._index.chunk_count)

    async def complete(
        self, embed: Callable[[list[str]], Awaitable[Sequence[np.ndarray]]], filename: str | None = None
    ) -> None:
        """The vectors of the chunks' answer candidates (shared.retrieval.passage_vectors)."""
        from shared.retrieval import passage_vectors

        await passage_vectors.complete(self._index, embed, filename)

    async def close(self) -> None:
        """Nothing to release: the index file stays open for the process's searches."""


class EmbeddedRetriever:
    def __init__(self, index: EmbeddedIndex, embeddings: Embeddings, options: SearchOptions) -> None:
        self._index = index
        self._embeddings = embeddings
        self._options = options
        self.index_name = index.name

    async def search(self, question: str, spec: RetrievalSpec, identity: str | None = None) -> SearchResult:
        plan = await self._options.planned(question, spec, identity)
        if not plan.searches:
            return plan.empty_result(self.index_name)
        try:
            vector, model = None, None
            if plan.uses_vectors:
                vector, model = await self._embeddings.embed_query(plan.text), self._embeddings.name
            hits = await asyncio.to_thread(self._index.search, plan, vector, model)
        except EmbeddingModelMismatch as exc:
            log.error("%s", exc)
            raise UpstreamError("search_failed", "The knowledge base search failed.") from exc
        except sqlite3.Error as exc:
            raise UpstreamError("search_failed", "The knowledge base search failed.") from exc
        sources = tuple(
            Source(
                id=row["id"],
                index_name=self.index_name,
                score=score,
                text=row["text"],
                fields={name: row[name] for name in plan.select},
                highlights=hits.highlights.get(row["id"]),
            )
            for row, score in hits.rows
        )
        return SearchResult(sources=sources, index_name=self.index_name, count=hits.count, facets=hits.facets)
