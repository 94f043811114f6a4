"""Writing documents' chunks into the embedded index (shared.retrieval.embedded) in bulk.

All of a batch goes in with one statement per table (executemany, row ids assigned here), in
the caller's transaction. When the batch holds at least as many chunks as the index already
does (always for the first build), the secondary indexes and the full-text index's insert
trigger are dropped first and everything is indexed once after the rows: three times faster
than keeping them up to date row by row (docs/performance.md), and at most twice the new rows'
work. A smaller batch keeps them. DDL is transactional in SQLite: a failed load leaves the
schema as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np

from shared.core.types import Chunk
from shared.retrieval.schema import COLLECTIONS, SCALAR_COLUMNS, index_document

# (filename, content hash, its chunks, their vectors)
Document = tuple[str, str, Sequence[Chunk], Sequence[np.ndarray]]

_COLUMNS = ", ".join(f'"{c}"' for c in SCALAR_COLUMNS)
_INSERT_CHUNK = f"INSERT INTO chunks (rowid, {_COLUMNS}) VALUES (?, {', '.join('?' * len(SCALAR_COLUMNS))})"


def write(db: sqlite3.Connection, documents: Sequence[Document]) -> None:
    """Make each document's chunks its only ones (inside the caller's transaction)."""
    db.executemany("DELETE FROM chunks WHERE filename = ?", [(filename,) for filename, *_ in documents])
    existing = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    rebuild = sum(len(chunks) for _, _, chunks, _ in documents) >= existing
    deferred = _drop_deferred(db) if rebuild else []
    first_rowid = db.execute("SELECT coalesce(max(rowid), 0) + 1 FROM chunks").fetchone()[0]
    chunks, vectors, values = _rows(documents, first_rowid)
    db.executemany(_INSERT_CHUNK, chunks)
    db.executemany("INSERT INTO chunk_vectors (rowid, embedding) VALUES (?, ?)", vectors)
    db.executemany("INSERT INTO chunk_values (chunk, field, value) VALUES (?, ?, ?)", values)
    if rebuild:
        db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')")  # from the chunks table
        for sql in deferred:
            db.execute(sql)
    db.executemany(
        "INSERT OR REPLACE INTO documents (filename, content_hash) VALUES (?, ?)",
        [(filename, content_hash) for filename, content_hash, *_ in documents],
    )


def _drop_deferred(db: sqlite3.Connection) -> list[str]:
    """Drop the chunks' secondary indexes and the full-text insert trigger; the SQL that makes them."""
    found = db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('chunks', 'chunk_values') "
        "AND sql IS NOT NULL AND (type = 'index' OR (type = 'trigger' AND name = 'chunks_ai'))"
    ).fetchall()
    for kind, name, _ in found:
        db.execute(f'DROP {kind.upper()} "{name}"')
    return [sql for *_, sql in found]


def _rows(documents: Sequence[Document], rowid: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
    chunks: list[tuple] = []
    vectors: list[tuple] = []
    values: list[tuple] = []
    for _, _, document_chunks, document_vectors in documents:
        for chunk, vector in zip(document_chunks, document_vectors, strict=True):
            fields = index_document(chunk)
            chunks.append((rowid, *(fields[c] for c in SCALAR_COLUMNS)))
            vectors.append((rowid, np.asarray(vector, dtype=np.float32).tobytes()))
            values.extend((rowid, name, value) for name in COLLECTIONS for value in fields[name])
            rowid += 1
    return chunks, vectors, values
