"""The embedded index's two rankings under a filter, in SQL: BM25 (FTS5) and cosine (numpy).

A hybrid search first finds out whether its filter is narrow or broad. A narrow one (at most
SUBSET_ROWS rows pass, e.g. a category and a tag) is read once: only its rows' vectors are
scored, and the full-text matches are joined to its rows in a temporary table, so BM25 is
computed for the rows that pass alone. A broad one (the security trimming lets almost every
chunk through) is never read: the best rows of each ranking are tested against it in SQL, best
first, in growing batches. A full-text search alone tries its filter on a sample of rows: one
that looks broad is tested on the best matches first, and every match is tested in SQL when
too few of those pass (or the filter looks narrow). Each gives exactly the ranking of the rows
the filter lets through.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from shared.retrieval import odata

# A filter letting at most this many rows through, and at most 1/NARROW_SHARE of the index, is
# narrow: reading its rows costs less than scoring every vector, and joining them to the matches
# less than testing every match.
SUBSET_ROWS = 4096
NARROW_SHARE = 8
# A full-text search alone tries its filter on a sample of the index's rows first: when at least
# 1/BROAD_SHARE of them pass, the best matches are tested in a batch before every match is.
BROAD_SHARE = 4
SAMPLE_ROWS = 64
FIRST_BATCH = 4  # a broad filter's first batch: this many times the hits wanted

_TEXT = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?"


def create_temporary_table(db: sqlite3.Connection) -> None:
    """The narrow filter's rows, for one search at a time (the index's lock is held)."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS narrow_rows (rowid INTEGER PRIMARY KEY)")


def narrow_rows(db: sqlite3.Connection, where: odata.SqlFilter, total: int) -> np.ndarray | None:
    """The sorted row ids the filter lets through when it is narrow (of `total` rows); None when not."""
    most = min(SUBSET_ROWS, total // NARROW_SHARE)
    cursor = db.execute(f"SELECT rowid FROM chunks WHERE {where.where} LIMIT ?", (*where.params, most + 1))
    rowids = np.fromiter((rowid for (rowid,) in cursor), dtype=np.int64)
    return np.sort(rowids) if len(rowids) <= most else None


def first_rowids(db: sqlite3.Connection, where: odata.SqlFilter | None, limit: int) -> list[int]:
    """The first `limit` row ids the filter lets through, in row order."""
    sql = f"SELECT rowid FROM chunks WHERE {where.where if where else '1'} ORDER BY rowid LIMIT ?"
    return [rowid for (rowid,) in db.execute(sql, (*(where.params if where else ()), limit))]


def text_ranking(
    db: sqlite3.Connection,
    match: str,
    where: odata.SqlFilter | None,
    narrow: np.ndarray | None,
    limit: int,
    sample: np.ndarray | None,
) -> list[tuple[int, float]]:
    """The `limit` best BM25 matches the filter lets through, with their scores. `narrow` is the
    filter's rows when they were read (a narrow filter, for a hybrid search); `sample` is None when
    the filter is known to be broad, else row ids spread over the index to guess it on."""
    if not match:
        return []
    if where is None:
        return db.execute(_TEXT, (match, limit)).fetchall()
    if narrow is None and (sample is None or _looks_broad(db, where, sample)):
        ranked = db.execute(_TEXT, (match, limit * FIRST_BATCH)).fetchall()
        passed = _passing(db, [rowid for rowid, _ in ranked], where)
        hits = [hit for hit in ranked if hit[0] in passed][:limit]
        if len(hits) == limit or len(ranked) < limit * FIRST_BATCH:  # enough, or every match tested
            return hits
    if narrow is None:  # each match tested in SQL (reading a narrow filter's rows cost more at 100k chunks)
        query = (
            "SELECT chunks_fts.rowid, -bm25(chunks_fts) FROM chunks_fts CROSS JOIN chunks"
            f" ON chunks.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ? AND {where.where}"
            " ORDER BY bm25(chunks_fts) LIMIT ?"
        )
        return db.execute(query, (match, *where.params, limit)).fetchall()
    db.execute("DELETE FROM narrow_rows")
    db.executemany("INSERT INTO narrow_rows (rowid) VALUES (?)", ((int(rowid),) for rowid in narrow))
    query = (
        "SELECT chunks_fts.rowid, -bm25(chunks_fts) FROM chunks_fts CROSS JOIN narrow_rows"
        " ON narrow_rows.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?"
    )
    return db.execute(query, (match, limit)).fetchall()


def vector_ranking(
    db: sqlite3.Connection,
    vectors: tuple[np.ndarray, np.ndarray],
    vector: np.ndarray,
    where: odata.SqlFilter | None,
    narrow: np.ndarray | None,
    limit: int,
) -> list[tuple[int, float]]:
    """The `limit` rows nearest to `vector` (cosine: the vectors are unit length) that the filter
    lets through. `vectors` is (row ids, sorted; their vectors' matrix)."""
    rowids, matrix = vectors
    if where is None:
        return _nearest(vector, rowids, matrix, limit)
    if narrow is not None:
        subset = matrix[np.searchsorted(rowids, narrow)] if len(narrow) else matrix[:0]
        return _nearest(vector, narrow, subset, limit)
    similarities = _similarities(matrix, vector)
    hits: list[tuple[int, float]] = []
    tested, batch = 0, limit * FIRST_BATCH
    while len(hits) < limit and tested < len(similarities):
        upto = min(tested + batch, len(similarities))
        best = np.argpartition(-similarities, upto - 1)[:upto]
        best = best[np.argsort(-similarities[best])][tested:]
        batch_rowids = [int(r) for r in rowids[best]]
        passed = _passing(db, batch_rowids, where)
        hits += [(r, float(similarities[i])) for r, i in zip(batch_rowids, best, strict=True) if r in passed]
        tested, batch = upto, batch * 4
    return hits[:limit]


def _similarities(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """matrix @ vector in one thread: OpenBLAS spreads a matrix-vector product over every core and
    waits for them all, which on two busy cores took 36 ms for 4,000 vectors against 0.25 ms here."""
    return np.einsum("ij,j->i", matrix, vector)


def _looks_broad(db: sqlite3.Connection, where: odata.SqlFilter, sample: np.ndarray) -> bool:
    return len(sample) > 0 and len(_passing(db, [int(r) for r in sample], where)) * BROAD_SHARE >= len(sample)


def _passing(db: sqlite3.Connection, rowids: list[int], where: odata.SqlFilter) -> set[int]:
    sql = f"SELECT rowid FROM chunks WHERE rowid IN (SELECT value FROM json_each(?)) AND {where.where}"
    return {rowid for (rowid,) in db.execute(sql, (json.dumps(rowids), *where.params))}


def _nearest(vector: np.ndarray, rowids: np.ndarray, matrix: np.ndarray, limit: int) -> list[tuple[int, float]]:
    limit = min(limit, len(rowids))
    if limit == 0:
        return []
    similarities = _similarities(matrix, vector)
    best = np.argpartition(-similarities, limit - 1)[:limit]
    best = best[np.argsort(-similarities[best])]
    return [(int(rowids[i]), float(similarities[i])) for i in best]
