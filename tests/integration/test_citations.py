"""GET /api/v2/sources/{id}: a cited passage opens with its document, trimmed exactly as search is."""

from __future__ import annotations

import json
import shutil

import pytest

from shared.core.types import Chunk
from tests.conftest import SAMPLE_CORPUS

ANA, BOB = "ana@example.com", "bob@example.com"
WARRANTY, MANUAL = "warranty-policy.md", "zephyr-e-bike-manual.md"


def chunk_id(filename: str, index: int) -> str:
    return Chunk(filename, None, index, None, "").id


async def test_a_cited_source_opens_with_its_passage_highlighted_in_its_document(client):
    rag = await client.post(
        "/api/v2/flexible-rag",
        json={"question": "Zephyr frame warranty", "override_config": {"params": {"max_tokens": 8}}},
    )
    cited = rag.json()["metadata"][0]

    response = await client.get(cited["source_url"])

    assert response.status_code == 200
    opened = response.json()
    assert opened["id"] == cited["id"] and opened["filename"] == cited["filename"]
    assert opened["title"] == cited["title"] and opened["text"] == cited["text"]
    document, highlight = opened["document"], opened["highlight"]
    assert document["text"][highlight["start"] : highlight["end"]] == opened["text"]
    assert document["first_chunk_index"] <= opened["chunk_index"] <= document["last_chunk_index"]
    spans = document["passages"]
    assert [s["chunk_index"] for s in spans] == list(range(spans[0]["chunk_index"], spans[-1]["chunk_index"] + 1))
    assert all(document["text"][s["start"] : s["end"]] for s in spans)


async def test_the_openai_compatible_citations_link_to_the_source(client):
    response = await client.post(
        "/api/v1/chat/completions",
        json={"model": "smollm2", "messages": [{"role": "user", "content": "Zephyr frame warranty"}], "max_tokens": 8},
    )

    citation = response.json()["citations"][0]
    assert citation["url"] == f"/api/v2/sources/{citation['id']}"
    assert (await client.get(citation["url"])).json()["id"] == citation["id"]


async def test_an_unknown_or_malformed_id_is_refused(client):
    assert (await client.get("/api/v2/sources/0000000000000000-0")).status_code == 404
    malformed = await client.get("/api/v2/sources/bad%20id%27")
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "source_id"]


@pytest.fixture
async def shared_with_ana_and_bob(configure, tmp_path):
    """An index in which Ana's search finds only the warranty policy and Bob's only the manual."""
    from shared import backends
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest
    from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter

    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, principals in ((WARRANTY, [ANA]), (MANUAL, [BOB])):
        shutil.copy(SAMPLE_CORPUS / name, folder / name)
        (folder / f"{name}.meta.json").write_text(json.dumps({"allowed_principals": principals}))
    path = tmp_path / "index.sqlite"
    writer = EmbeddedIndexWriter(EmbeddedIndex(path, "docs"))
    await ingest(folder, writer, backends.embeddings(), prune=False, chunker=Chunker())
    configure(SEARCH_INDEX_PATH=str(path), SEARCH_SECURITY_FIELD="allowed_principals", AUTH_TRUST_ASSERTED_USERS="true")


async def test_a_user_cannot_open_a_document_their_search_would_not_return(client, shared_with_ana_and_bob):
    from shared import backends
    from shared.core.types import RetrievalSpec

    spec = RetrievalSpec(query="*", filter=f"filename eq '{MANUAL}'", top_k=5, vector_search=False)
    assert (await backends.retriever().search("*", spec, ANA)).sources == ()  # trimmed from Ana's search
    manual, warranty = chunk_id(MANUAL, 0), chunk_id(WARRANTY, 0)

    as_ana = await client.get(f"/api/v2/sources/{manual}", params={"user_id": ANA})
    as_bob = await client.get(f"/api/v2/sources/{manual}", params={"user_id": BOB})
    no_identity = await client.get(f"/api/v2/sources/{warranty}")

    assert as_ana.status_code == 404 and MANUAL not in as_ana.text
    assert as_bob.status_code == 200 and as_bob.json()["filename"] == MANUAL
    assert no_identity.status_code == 404  # `anonymous` is listed on neither
    assert (await client.get(f"/api/v2/sources/{warranty}", params={"user_id": ANA})).status_code == 200


def test_overlapping_passages_merge_into_one_text_with_each_passage_in_place():
    from shared.core.types import Source
    from shared.retrieval.citation import merge

    def passage(index: int, text: str) -> Source:
        return Source(f"f-{index}", "docs", 1.0, text, {"chunk_index": index, "page": None})

    first = "The frame has a ten-year warranty. The battery has a two-year warranty."
    second = "The battery has a two-year warranty. Paint is covered for three years."
    unrelated = "Returns are free within thirty days."

    text, spans = merge([passage(0, first), passage(1, second), passage(2, unrelated)])

    assert text == first + " Paint is covered for three years.\n\n" + unrelated
    assert [text[s.start : s.end] for s in spans] == [first, second, unrelated]
