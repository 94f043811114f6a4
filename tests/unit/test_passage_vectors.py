"""The extractive answers' candidate vectors are made at ingestion and read from the embedded index:
a question embeds none of them, the answer is the same, and the table follows the chunks (a
document replaced or deleted, the candidates formed differently, an index file made before it)."""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pytest

from shared.core import answers
from shared.core.answers import ExtractiveAnswers, scored_texts
from shared.core.followups import Resolved
from shared.core.types import RetrievalSpec
from shared.ingest import pipeline as ingestion
from shared.ingest.chunking import Chunker
from shared.ingest.documents import DocumentIndexer, DocumentLimits
from shared.retrieval import passage_vectors
from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter, EmbeddedRetriever
from shared.retrieval.passage_vectors import StoredPassageVectors
from shared.retrieval.query import SearchOptions

WARRANTY = """# Warranty

The frame and the rigid fork are covered for 10 years. The battery is covered for 2 years or 500
charge cycles, whichever comes first. Keep your proof of purchase: it is required for every claim.

| Part | Period |
| --- | --- |
| Motor | 3 years |
| Display | 2 years |
"""
TYRES = """# Tyres

The Zephyr ships with 700x40c tyres. Keep them inflated between 3.5 and 4.5 bar. Check the
pressure every week. Replace a tyre when its tread wears through.
"""


class CountingEmbeddings:
    """A deterministic stand-in model (vectors from a hash of the text) that records what it embeds."""

    dimensions = 8

    def __init__(self, name: str = "hash-model") -> None:
        self.name = name
        self.embedded: list[str] = []

    async def embed_query(self, text: str) -> np.ndarray:
        return _vector(text)

    async def embed_documents(self, texts) -> np.ndarray:
        self.embedded.extend(texts)
        return np.array([_vector(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dimensions)


def _vector(text: str) -> np.ndarray:
    row = np.frombuffer(hashlib.sha256(text.encode()).digest()[:8], dtype=np.uint8) + 1.0
    return (row / np.linalg.norm(row)).astype(np.float32)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "warranty.md").write_text(WARRANTY)
    (folder / "tyres.md").write_text(TYRES)
    return folder


async def ingest(folder, index: EmbeddedIndex, embeddings: CountingEmbeddings, prune: bool = False):
    writer = EmbeddedIndexWriter(index)
    return await ingestion.ingest(folder, writer, embeddings, prune=prune, chunker=Chunker(60, 10))


def stored(index: EmbeddedIndex) -> dict[int, set[bytes]]:
    with index.connection() as db:
        pairs = db.execute("SELECT chunk, key FROM passage_vectors").fetchall()
    found: dict[int, set[bytes]] = {}
    for chunk, key in pairs:
        found.setdefault(chunk, set()).add(key)
    return found


async def needed(index: EmbeddedIndex) -> dict[int, set[bytes]]:
    chunks, _ = passage_vectors._read(index)
    formed = {r: answers.scored_texts(s) for r, s in chunks.items()}  # as the answerer forms them now
    return {r: {passage_vectors.key(t) for t in texts} for r, texts in formed.items() if texts}


async def test_a_question_embeds_no_candidate_and_gets_the_same_answer(tmp_path, corpus):
    index = EmbeddedIndex(tmp_path / "index.sqlite", "docs")
    model = CountingEmbeddings()
    await ingest(corpus, index, model)
    assert stored(index) == await needed(index)  # every chunk's candidates, nothing else
    retriever = EmbeddedRetriever(index, model, SearchOptions(5, 5))
    question = "How long is the battery covered?"
    sources = (await retriever.search(question, RetrievalSpec())).sources
    assert len(sources) > 1

    model.embedded.clear()
    from_index = await ExtractiveAnswers(StoredPassageVectors(model, [index]), min_relevance=0.3).answer(
        Resolved(question), sources
    )
    assert model.embedded == []  # every candidate's vector came from the index
    computed = await ExtractiveAnswers(model, min_relevance=0.3).answer(Resolved(question), sources)
    assert model.embedded  # the plain answerer embedded them
    assert from_index.choices == computed.choices and "2 years" in from_index.text


async def test_a_text_the_index_lacks_is_embedded_when_asked(tmp_path, corpus):
    index = EmbeddedIndex(tmp_path / "index.sqlite", "docs")
    model = CountingEmbeddings()
    await ingest(corpus, index, model)
    model.embedded.clear()
    known = scored_texts(passage_vectors._read(index)[0][1])[0]

    vectors = await StoredPassageVectors(model, [index]).embed_documents([known, "An attachment's sentence.", known])

    assert model.embedded == ["An attachment's sentence."]
    assert np.array_equal(vectors[0], _vector(known)) and np.array_equal(vectors[2], vectors[0])
    assert np.array_equal(vectors[1], _vector("An attachment's sentence."))


async def test_each_embedded_index_is_read(tmp_path, corpus):
    """The main index and the named sources of /chat/complete: a turn's sources may come from any."""
    main, named = EmbeddedIndex(tmp_path / "main.sqlite", "docs"), EmbeddedIndex(tmp_path / "named.sqlite", "named")
    model = CountingEmbeddings()
    await ingest(corpus, named, model)
    model.embedded.clear()
    texts = [t for s in passage_vectors._read(named)[0].values() for t in scored_texts(s)]

    await StoredPassageVectors(model, [main, named]).embed_documents(texts)

    assert texts and model.embedded == []


async def test_vectors_of_another_model_are_never_used(tmp_path, corpus):
    index = EmbeddedIndex(tmp_path / "index.sqlite", "docs")
    await ingest(corpus, index, CountingEmbeddings("model-a"))
    other = CountingEmbeddings("model-b")
    text = scored_texts(passage_vectors._read(index)[0][1])[0]

    await StoredPassageVectors(other, [index]).embed_documents([text])

    assert other.embedded == [text]


async def test_the_vectors_follow_the_documents(tmp_path, corpus):
    index = EmbeddedIndex(tmp_path / "index.sqlite", "docs")
    model = CountingEmbeddings()
    await ingest(corpus, index, model)
    model.embedded.clear()

    # A changed document's candidates are embedded anew, as its chunks are; the other document's are kept.
    (corpus / "tyres.md").write_text(TYRES + "\nA puncture repair kit sits under the saddle.\n")
    await ingest(corpus, index, model)
    assert any("puncture" in t for t in model.embedded)
    assert not any("battery" in t or "Motor" in t for t in model.embedded)
    assert stored(index) == await needed(index)

    # A deleted document takes its rows with it.
    (corpus / "tyres.md").unlink()
    await ingest(corpus, index, model, prune=True)
    assert stored(index) == await needed(index) and stored(index)


async def test_candidates_formed_differently_are_embedded_once_and_old_rows_dropped(tmp_path, corpus, monkeypatch):
    index = EmbeddedIndex(tmp_path / "index.sqlite", "docs")
    model = CountingEmbeddings()
    await ingest(corpus, index, model)
    model.embedded.clear()
    formed = answers.scored_texts
    monkeypatch.setattr(answers, "scored_texts", lambda source: ["Shared by every chunk.", *formed(source)[:1]])

    await ingest(corpus, index, model)  # the files are unchanged: only the candidates changed

    assert model.embedded.count("Shared by every chunk.") == 1  # embedded once, copied to every chunk
    assert stored(index) == await needed(index)
    assert all(len(keys) <= 2 for keys in stored(index).values())


async def test_an_index_file_made_before_the_table_is_upgraded_in_place(tmp_path, corpus):
    path = tmp_path / "index.sqlite"
    index = EmbeddedIndex(path, "docs")
    await ingest(corpus, index, CountingEmbeddings())
    chunks = index.chunk_count()
    with sqlite3.connect(path) as db:  # as an older version left it
        db.executescript("DROP TRIGGER chunks_ad_passage_vectors; DROP TABLE passage_vectors;")
    del index

    reopened = EmbeddedIndex(path, "docs")
    assert reopened.chunk_count() == chunks and stored(reopened) == {}  # kept, not rebuilt
    model = CountingEmbeddings()
    summary = await ingest(corpus, reopened, model)

    assert summary.unchanged == 2 and summary.indexed == 0  # the documents are not indexed again
    assert stored(reopened) == await needed(reopened) and model.embedded


async def test_a_document_indexed_on_its_own_gets_its_vectors_after_it_is_searchable(tmp_path, corpus):
    """An upload, the blob trigger and the watcher index one document at a time: its candidates'
    vectors follow in the background, made from its own chunks alone."""
    index = EmbeddedIndex(tmp_path / "index.sqlite", "docs")
    model = CountingEmbeddings()
    await ingest(corpus, index, model)
    with index.connection(transaction=True) as db:  # the other document's rows, as an older index left them
        db.execute("DELETE FROM passage_vectors WHERE chunk IN (SELECT rowid FROM chunks WHERE filename = 'tyres.md')")
    model.embedded.clear()
    indexer = DocumentIndexer(EmbeddedIndexWriter(index), model, DocumentLimits(1_000_000, 50, 100))

    data = b"# Lights\n\nThe front light runs for 40 hours on one charge. Switch it on with a long press.\n"
    outcome = await indexer.index("lights.md", data, ingestion.DocumentMetadata(), "hash-1")
    await indexer.settled()

    assert outcome.result == "indexed"
    lights = {r for r, s in passage_vectors._read(index)[0].items() if s.fields["filename"] == "lights.md"}
    assert lights and all(stored(index).get(r) == keys for r, keys in (await needed(index)).items() if r in lights)
    assert any("40 hours" in t for t in model.embedded)
    assert not any("tyre" in t.lower() for t in model.embedded)  # only the new document's chunks were read
    assert not any(
        r in stored(index) for r, s in passage_vectors._read(index)[0].items() if s.fields["filename"] == "tyres.md"
    )
