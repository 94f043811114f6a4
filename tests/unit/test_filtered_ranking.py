"""Filtered rankings in SQL: a narrow filter's rows read once, a broad filter tested on the best
rows in batches. Both give the ranking of exactly the rows the filter lets through, whichever
path a filter takes, checked against the plain reference (every permitted row, ranked in Python)."""

from __future__ import annotations

import numpy as np
import pytest

from shared.core.types import Chunk, RetrievalSpec
from shared.retrieval import embedded_ranking, odata
from shared.retrieval.embedded import EmbeddedIndex, fts_query
from shared.retrieval.query import SearchOptions

WORDS = [f"w{i}" for i in range(40)]
FILTERS = [
    "filename lt 'uploads/' or filename ge 'uploads0'",  # the security trimming: lets everything through
    "category eq 'c3'",
    "category eq 'c3' and tags/any(t: t eq 'tag7' or t eq 'tag8')",
    "category eq 'none'",
    "tags/all(t: t ne 'tag3' and t ne 'tag4') and tags/any()",  # NOT IN / NOT EXISTS, per set and per row
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    rng = np.random.default_rng(11)
    index = EmbeddedIndex(tmp_path_factory.mktemp("ranking") / "index.sqlite", "ranking")
    documents = []
    for d in range(30):
        vectors = rng.standard_normal((10, 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [
            Chunk(f"doc-{d}.md", f"Document {d}", i, None, " ".join(rng.choice(WORDS, 12)), str(d), f"c{d % 5}", tags)
            for i, tags in enumerate(tuple(f"tag{t}" for t in rng.choice(10, 3, replace=False)) for _ in range(10))
        ]
        documents.append((f"doc-{d}.md", str(d), chunks, list(vectors)))
    index.replace_documents(documents)
    index._refresh_vectors()
    return index


def reference(index: EmbeddedIndex, text: str, vector: np.ndarray, filter_text: str, limit: int):
    """Both rankings the plain way: every permitted row read, the full rankings walked in Python."""
    where = odata.to_sql(odata.parse(filter_text), "chunk_values")
    permitted = {r for (r,) in index._db.execute(f"SELECT rowid FROM chunks WHERE {where.where}", where.params)}
    text_sql = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts)"
    text_hits = [hit for hit in index._db.execute(text_sql, (fts_query(text),)) if hit[0] in permitted][:limit]
    similarities = index._vectors @ vector
    order = sorted(range(len(similarities)), key=lambda i: -similarities[i])
    rowids = [int(index._vector_rowids[i]) for i in order]
    vector_hits = [
        (r, pytest.approx(float(similarities[i]))) for r, i in zip(rowids, order, strict=True) if r in permitted
    ]
    return text_hits, vector_hits[:limit]


@pytest.mark.parametrize("subset_rows", [0, 5, 4096], ids=["every filter broad", "some narrow", "every narrow"])
@pytest.mark.parametrize("filter_text", FILTERS)
def test_each_filtered_ranking_is_the_permitted_rows_ranking(index, monkeypatch, subset_rows, filter_text):
    monkeypatch.setattr(embedded_ranking, "SUBSET_ROWS", subset_rows)
    monkeypatch.setattr(embedded_ranking, "NARROW_SHARE", 1)
    monkeypatch.setattr(embedded_ranking, "FIRST_BATCH", 1)  # several batches even on a small index
    rng = np.random.default_rng(3)
    where = odata.to_sql(odata.parse(filter_text), "chunk_values")
    for _ in range(10):
        text = " ".join(rng.choice(WORDS, 3))
        vector = index._vectors[rng.integers(len(index._vectors))]
        expected_text, expected_vectors = reference(index, text, vector, filter_text, 7)
        filters = embedded_ranking.Filters(index._db)
        narrow = filters.narrow(where, len(index._vector_rowids))
        vectors = (index._vector_rowids, index._vectors)

        for known_narrow, broad in ((None, True), (None, False), (narrow, False)):  # each text path
            found = embedded_ranking.text_ranking(filters, fts_query(text), where, known_narrow, 7, broad=broad)
            assert found == expected_text
        assert embedded_ranking.vector_ranking(index._db, vectors, vector, where, narrow, 7) == expected_vectors


def test_hybrid_search_with_a_filter_returns_only_permitted_rows(index):
    plan = SearchOptions(default_top_k=5, max_top_k=50).plan("w1 w2 w3", RetrievalSpec(filter="category eq 'c3'"))

    hits = index.search(plan, index._vectors[0])

    assert hits.rows and all(row["category"] == "c3" for row, _ in hits.rows)


def test_what_a_search_found_out_about_its_filter_is_forgotten_when_another_process_writes(tmp_path):
    searcher = EmbeddedIndex(tmp_path / "index.sqlite", "shared")
    writer = EmbeddedIndex(tmp_path / "index.sqlite", "shared")  # the watcher or ingestion, its own connection
    vector = np.eye(8, dtype=np.float32)[0]

    def document(name: str, tags: tuple[str, ...]):
        chunks = [Chunk(name, name, i, None, f"w1 w{i}", name, "c3", tags) for i in range(4)]
        return (name, name, chunks, [vector] * 4)

    writer.replace_documents([document(f"doc-{d}.md", ("tag1",)) for d in range(20)])
    options = SearchOptions(default_top_k=50, max_top_k=50)
    plan = options.plan("w1", RetrievalSpec(filter="tags/any(t: t eq 'tag7')"))
    assert searcher.search(plan, vector).rows == searcher.search(plan, None).rows == []  # the filter is narrow

    writer.replace_documents([document("new.md", ("tag7", "tag1"))])

    for hits in (searcher.search(plan, vector), searcher.search(plan, None)):
        assert [row["filename"] for row, _ in hits.rows] == ["new.md"] * 4
