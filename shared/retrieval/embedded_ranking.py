"""The embedded index's two rankings under a filter, in SQL: BM25 (FTS5) and cosine (numpy).

A hybrid search first finds out whether its filter is narrow or broad. A narrow one (at most
SUBSET_ROWS rows pass, e.g. a category and a tag) is read once: only its rows' vectors are
scored, and the full-text matches are tested against a list of its rows, so BM25 is
computed for the rows that pass alone. A broad one (the security trimming lets almost every
chunk through) is never read: the best rows of each ranking are tested against it in SQL, best
first, in growing batches. A full-text search alone tries its filter on a sample of rows first:
one that looks broad is tested on the best matches first; otherwise a narrow one is read as
above, and every match is tested in SQL when neither helps. What is found out about a filter is
kept until the index changes (Filters). Each gives exactly the ranking of the rows the filter
lets through.
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
REMEMBERED_FILTERS = 256  # what is found out about at most this many filters is kept (Filters)

_TEXT = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?"


class Filters:
    """What searches found out about their filters' rows, kept per filter until the index changes
    (its generation): searches repeat their filters (each caller's security trimming, a category
    picked in a form), and reading a narrow filter's rows costs more than ranking them. Used under
    the index's lock, one search at a time."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._generation: str | None = None
        self._narrow: dict[odata.SqlFilter, np.ndarray | None] = {}
        self._broad: dict[odata.SqlFilter, bool] = {}
        self._listed: dict[odata.SqlFilter, str] = {}

    def at(self, generation: str | None) -> None:
        """Forget what was found when the index changed since (another process may have written it)."""
        if generation != self._generation or len(self._narrow) + len(self._broad) > REMEMBERED_FILTERS:
            self._narrow.clear()
            self._broad.clear()
            self._listed.clear()
            self._generation = generation

    def narrow(self, where: odata.SqlFilter, total: int) -> np.ndarray | None:
        """The sorted row ids the filter lets through when it is narrow (of `total` rows); None when not."""
        if where not in self._narrow:
            most = min(SUBSET_ROWS, total // NARROW_SHARE)
            sql = f"SELECT rowid FROM chunks WHERE {where.where} LIMIT ?"
            rowids = np.fromiter((r for (r,) in self.db.execute(sql, (*where.params, most + 1))), dtype=np.int64)
            self._narrow[where] = np.sort(rowids) if len(rowids) <= most else None
        return self._narrow[where]

    def looks_broad(self, where: odata.SqlFilter, sample: np.ndarray) -> bool:
        """Whether at least 1/BROAD_SHARE of `sample` (row ids spread over the index) passes."""
        if where not in self._broad:
            passed = len(_passing(self.db, [int(r) for r in sample], where)) if len(sample) else 0
            self._broad[where] = len(sample) > 0 and passed * BROAD_SHARE >= len(sample)
        return self._broad[where]

    def listed(self, where: odata.SqlFilter, narrow: np.ndarray) -> str:
        """The narrow filter's rows as a JSON array, for json_each in a query."""
        if where not in self._listed:
            self._listed[where] = json.dumps(narrow.tolist())
        return self._listed[where]


def first_rowids(db: sqlite3.Connection, where: odata.SqlFilter | None, limit: int) -> list[int]:
    """The first `limit` row ids the filter lets through, in row order."""
    sql = f"SELECT rowid FROM chunks WHERE {where.where if where else '1'} ORDER BY rowid LIMIT ?"
    return [rowid for (rowid,) in db.execute(sql, (*(where.params if where else ()), limit))]


def text_ranking(
    filters: Filters,
    match: str,
    where: odata.SqlFilter | None,
    narrow: np.ndarray | None,
    limit: int,
    *,
    broad: bool,
) -> list[tuple[int, float]]:
    """The `limit` best BM25 matches the filter lets through, with their scores. `narrow` is the
    filter's rows when it is narrow; `broad` tells that most rows pass (known or guessed)."""
    db = filters.db
    if not match:
        return []
    if where is None:
        return db.execute(_TEXT, (match, limit)).fetchall()
    if broad:
        ranked = db.execute(_TEXT, (match, limit * FIRST_BATCH)).fetchall()
        passed = _passing(db, [rowid for rowid, _ in ranked], where)
        hits = [hit for hit in ranked if hit[0] in passed][:limit]
        if len(hits) == limit or len(ranked) < limit * FIRST_BATCH:  # enough, or every match tested
            return hits
    if narrow is None:  # neither narrow nor broad enough: each match tested in SQL
        query = (
            "SELECT chunks_fts.rowid, -bm25(chunks_fts) FROM chunks_fts CROSS JOIN chunks"
            f" ON chunks.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ? AND {where.where}"
            " ORDER BY bm25(chunks_fts) LIMIT ?"
        )
        return db.execute(query, (match, *where.params, limit)).fetchall()
    # BM25 computed for the matches among the filter's rows alone. The `+` keeps FTS5 from looking
    # each row up by its id (one full-text query per row): the matches are tested against the list.
    query = (
        "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
        " AND +rowid IN (SELECT value FROM json_each(?)) ORDER BY bm25(chunks_fts) LIMIT ?"
    )
    return db.execute(query, (match, filters.listed(where, narrow), limit)).fetchall()


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


def _passing(db: sqlite3.Connection, rowids: list[int], where: odata.SqlFilter) -> set[int]:
    sql = f"SELECT rowid FROM chunks WHERE rowid IN (SELECT value FROM json_each(?)) AND {where.on_few_rows}"
    return {rowid for (rowid,) in db.execute(sql, (json.dumps(rowids), *where.params))}


def _nearest(vector: np.ndarray, rowids: np.ndarray, matrix: np.ndarray, limit: int) -> list[tuple[int, float]]:
    limit = min(limit, len(rowids))
    if limit == 0:
        return []
    similarities = _similarities(matrix, vector)
    best = np.argpartition(-similarities, limit - 1)[:limit]
    best = best[np.argsort(-similarities[best])]
    return [(int(rowids[i]), float(similarities[i])) for i in best]
