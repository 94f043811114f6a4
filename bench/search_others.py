"""The same searches on the same synthetic chunks with LanceDB and with SQLite FTS5 + sqlite-vec,
for bench/search.py. Both are optional (requirements-bench.txt); a missing one is skipped.

LanceDB: one table (text, category, tags, vector) with its native full-text index, a bitmap
index on category and a label-list index on tags, no vector index (exact search, as the
product's); hybrid is its RRF with the filter applied before ranking (prefilter).
sqlite-vec: a vec0 table (cosine) attached beside the product's index file, read with apsw
(the stdlib sqlite3 here cannot load extensions): the filter's rows in SQL, the full-text
ranking with the filter joined in SQL, the vector ranking a vec0 KNN restricted to those rows,
fused by reciprocal rank in Python.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from shared.retrieval import odata
from shared.retrieval.embedded import fts_query, reciprocal_rank_fusion

LANCE_FILTER = "category = 'c3' AND array_has_any(tags, ['tag7', 'tag8'])"  # bench/search.py's FILTER


def timed(run: Callable[[str, np.ndarray], object], queries: Sequence[tuple[str, np.ndarray]]) -> list[float]:
    samples = []
    for text, vector in queries:
        started = time.perf_counter()
        run(text, vector)
        samples.append(time.perf_counter() - started)
    return samples


def lancedb_timings(documents: list, queries: list[tuple[str, np.ndarray]]) -> dict[str, list[float]]:
    try:
        import lancedb
        import pyarrow as pa
        from lancedb.index import FTS, Bitmap, LabelList
    except ImportError:
        return {}
    chunks = [(c, v) for _, chunks, vectors in documents for c, v in zip(chunks, vectors, strict=True)]
    matrix = np.vstack([vector for _, vector in chunks]).astype(np.float32)
    data = pa.table(
        {
            "id": [f"{c.filename}-{c.chunk_index}" for c, _ in chunks],
            "text": [c.text for c, _ in chunks],
            "category": [c.category for c, _ in chunks],
            "tags": [list(c.tags) for c, _ in chunks],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1]),
        }
    )
    table = lancedb.connect(tempfile.mkdtemp(prefix="bench-lancedb-")).create_table("chunks", data=data)
    table.create_index("text", config=FTS())
    table.create_index("category", config=Bitmap())
    table.create_index("tags", config=LabelList())

    def hybrid(text: str, vector: np.ndarray) -> object:
        search = table.search(query_type="hybrid").vector(vector).text(text)
        return search.where(LANCE_FILTER, prefilter=True).limit(5).to_list()

    return {
        "text": timed(lambda text, _: table.search(text, query_type="fts").limit(5).to_list(), queries),
        "vector": timed(lambda _, vector: table.search(vector).limit(5).to_list(), queries),
        "hybrid + filter": timed(hybrid, queries),
    }


def sqlite_vec_timings(index_path: Path, filter_text: str, queries: list[tuple[str, np.ndarray]]) -> dict:
    try:
        import apsw
        import sqlite_vec
    except ImportError:
        return {}
    db = apsw.Connection(str(Path(tempfile.mkdtemp(prefix="bench-sqlite-vec-")) / "vectors.sqlite"))
    db.enable_load_extension(True)
    db.load_extension(sqlite_vec.loadable_path())
    db.execute("ATTACH DATABASE ? AS idx", (str(index_path),))
    dimensions = len(queries[0][1])
    db.execute(f"CREATE VIRTUAL TABLE vectors USING vec0(embedding float[{dimensions}] distance_metric=cosine)")
    with db:
        db.execute("INSERT INTO vectors (rowid, embedding) SELECT rowid, embedding FROM idx.chunk_vectors")
    where = odata.to_sql(odata.parse(filter_text), "idx.chunk_values")
    where_sql = where.where.replace("chunks.", "idx.chunks.")
    knn = "SELECT rowid FROM vectors WHERE embedding MATCH ? AND k = ?"

    def hybrid(text: str, vector: np.ndarray) -> object:
        rows = [r for (r,) in db.execute(f"SELECT rowid FROM idx.chunks WHERE {where_sql}", where.params)]
        text_hits = db.execute(
            "SELECT chunks_fts.rowid FROM idx.chunks_fts CROSS JOIN idx.chunks ON idx.chunks.rowid = chunks_fts.rowid"
            f" WHERE chunks_fts MATCH ? AND {where_sql} ORDER BY bm25(chunks_fts) LIMIT 50",
            (fts_query(text), *where.params),
        ).fetchall()
        vector_hits = db.execute(
            f"{knn} AND rowid IN (SELECT value FROM json_each(?))", (vector.tobytes(), 50, json.dumps(rows))
        ).fetchall()
        return reciprocal_rank_fusion([r for (r,) in text_hits], [r for (r,) in vector_hits])[:5]

    return {
        "vector": timed(lambda _, vector: db.execute(knn, (vector.tobytes(), 5)).fetchall(), queries),
        "hybrid + filter": timed(hybrid, queries),
    }
