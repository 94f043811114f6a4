"""The embedded index's bulk write path: many documents in one transaction, the indexes built
after the rows when the batch is as large as the index, and the same search results as ever."""

from __future__ import annotations

import numpy as np
import pytest

from shared.core.types import Chunk
from shared.retrieval.embedded import EmbeddedIndex
from shared.retrieval.query import SearchPlan
from shared.retrieval.schema import RETRIEVABLE


def document(name: str, texts: list[str], category: str = "manual", tags: tuple[str, ...] = ("bike",)):
    chunks = [Chunk(name, name.title(), i, None, text, "hash", category, tags) for i, text in enumerate(texts)]
    vectors = [np.eye(4, dtype=np.float32)[i % 4] for i in range(len(texts))]
    return name, f"hash-{name}", chunks, vectors


def schema(index: EmbeddedIndex) -> set[tuple[str, str]]:
    rows = index._db.execute("SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger')")
    return set(rows.fetchall())


def found(index: EmbeddedIndex, text: str, filter_: str | None = None) -> list[str]:
    from shared.retrieval import odata

    plan = SearchPlan(text=text, top_k=10, select=RETRIEVABLE, filter=odata.parse(filter_) if filter_ else None)
    return sorted(row["filename"] for row, _ in index.search(plan, None).rows)


@pytest.fixture
def index(tmp_path):
    return EmbeddedIndex(tmp_path / "index.sqlite", "bulk")


def test_a_bulk_load_is_searchable_and_leaves_the_schema_as_it_was(index):
    before = schema(index)

    index.replace_documents(
        [document("a.md", ["the zephyr frame", "battery range"]), document("b.md", ["zephyr tyres"], "policy", ("x",))]
    )

    assert schema(index) == before  # every index and trigger built again
    assert found(index, "zephyr") == ["a.md", "b.md"]
    assert found(index, "zephyr", "category eq 'policy' and tags/any(t: t eq 'x')") == ["b.md"]
    assert index.document_hashes() == {"a.md": "hash-a.md", "b.md": "hash-b.md"}
    assert index.chunk_count() == 3


def test_a_document_written_after_the_bulk_load_is_indexed_as_it_goes_in(index):
    index.replace_documents([document(f"{n}.md", ["common words here"] * 3) for n in "abcd"])

    index.replace_document("e.md", "hash-e", *document("e.md", ["a unique heliotrope"])[2:])

    assert found(index, "heliotrope") == ["e.md"]
    assert index.chunk_count() == 13


def test_a_batch_replaces_the_documents_it_names_and_keeps_the_others(index):
    index.replace_documents([document("a.md", ["old alpha text"]), document("b.md", ["beta text"])])

    index.replace_documents([document("a.md", ["new alpha text", "more alpha"])])

    assert found(index, "old") == [] and found(index, "new") == ["a.md"]
    assert found(index, "beta") == ["b.md"]
    assert index.chunk_count() == 3
    rowids = [r for (r,) in index._db.execute("SELECT rowid FROM chunks ORDER BY rowid")]
    vectors = [r for (r,) in index._db.execute("SELECT rowid FROM chunk_vectors ORDER BY rowid")]
    assert rowids == vectors  # no vector left behind by the replaced chunks


def test_a_failed_load_changes_nothing(index):
    index.replace_documents([document("a.md", ["alpha"])])
    before = schema(index)
    name, content_hash, chunks, vectors = document("b.md", ["beta", "gamma"])

    with pytest.raises(ValueError):  # one vector short
        index.replace_documents([document("c.md", ["delta"] * 3), (name, content_hash, chunks, vectors[:1])])

    assert schema(index) == before
    assert found(index, "alpha") == ["a.md"] and found(index, "delta") == []
    assert index.chunk_count() == 1
