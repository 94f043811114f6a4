"""POST /api/v1/chat/complete (seed 004): two embedded sources with different content, each
strategy, attachments from Azurite, documents from a folder, the [n] numbering, every
limit, and the error codes. A recording model server answers, so the tests see the exact
prompt; one test answers with the embedded model."""

from __future__ import annotations

import json
import shutil

import pytest

from shared.settings import EMBEDDED_EMBEDDING_MODEL
from tests.conftest import SAMPLE_CORPUS
from tests.recording_server import RecordingServer
from tests.support import completion, remote_model_entry

URL = "/api/v1/chat/complete"
SOURCE_FILES = {
    "policies": ["warranty-policy.md", "returns-and-shipping.md"],
    "manuals": ["zephyr-e-bike-manual.md", "maintenance-guide.txt"],
}
BLOB = b"# Bike care card\n\nWipe the chain after every wet ride and oil it every 300 km. Tyres: 3.5 bar.\n"


@pytest.fixture(scope="module")
async def source_indexes(tmp_path_factory):
    """Two embedded sources, built by the real ingestion from parts of the sample corpus."""
    from shared import backends
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest
    from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter

    root = tmp_path_factory.mktemp("sources")
    definitions = []
    for name, files in SOURCE_FILES.items():
        folder = root / name
        folder.mkdir()
        for file in files:
            shutil.copy(SAMPLE_CORPUS / file, folder / file)
            shutil.copy(SAMPLE_CORPUS / f"{file}.meta.json", folder / f"{file}.meta.json")
        index = EmbeddedIndex(root / f"{name}.sqlite", name)
        await ingest(folder, EmbeddedIndexWriter(index), backends.embeddings(), prune=False, chunker=Chunker())
        definitions.append({"name": name, "index_path": str(root / f"{name}.sqlite")})
    return definitions


@pytest.fixture
def model_server():
    with RecordingServer(lambda request: (200, completion("From the card: oil it every 300 km [1]."))) as server:
        yield server


@pytest.fixture
def chat(configure, source_indexes, model_server, tmp_path):
    """The app with the two sources, documents from the sample corpus, and the recording model."""
    failing = RecordingServer(lambda request: (500, {"error": "down"}))
    configure(
        SOURCES_DEFINITIONS=json.dumps(source_indexes),
        SOURCES_DOCUMENTS_ROOT=str(SAMPLE_CORPUS),
        LLM_MODELS=json.dumps([remote_model_entry(model_server), remote_model_entry(failing, "failing")]),
        HISTORY_SQLITE_PATH=str(tmp_path / "history.sqlite"),
    )
    return model_server


def rag(query, *sources, strategy="merge", max_total=10, **extra):
    return {
        "query": query,
        "llm_model": "remote",
        "rag_config": {
            "sources": [
                {"name": s, "model_name": EMBEDDED_EMBEDDING_MODEL, "similarity_threshold": 0.0} | o for s, o in sources
            ],
            "retrieval_strategy": strategy,
            "max_total_results": max_total,
        },
        **extra,
    }


BOTH = (("policies", {}), ("manuals", {}))
QUESTION = "How long is the battery warranty, and how do I charge the battery?"


@pytest.mark.parametrize("strategy", ["merge", "sequential", "ensemble"])
async def test_each_strategy_returns_sources_from_both_sources(client, chat, strategy):
    response = await client.post(URL, json=rag(QUESTION, *BOTH, strategy=strategy))
    data = response.json()

    assert response.status_code == 200, response.text
    assert {s["metadata"]["source"] for s in data["sources"]} == {"policies", "manuals"}
    assert {s["storage_key"] for s in data["sources"]} <= set(SOURCE_FILES["policies"] + SOURCE_FILES["manuals"])
    assert all(s["model_name"] == EMBEDDED_EMBEDDING_MODEL and 0 < s["similarity"] <= 1 for s in data["sources"])
    assert [s["metadata"]["index"] for s in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    metadata = data["search_metadata"]
    assert metadata["strategy"] == strategy and metadata["sources_searched"] == ["policies", "manuals"]
    assert metadata["candidates_evaluated"] >= len(data["sources"])
    assert (metadata["embedding_model"], metadata["index_type"]) == (EMBEDDED_EMBEDDING_MODEL, "embedded")
    assert (metadata["vector_weight"], metadata["keyword_weight"]) == (
        (0.5, 0.5) if strategy == "ensemble" else (1.0, 0.0)  # hybrid's fusion weights, equal by default
    )
    assert data["documents_used"] is None and data["model_used"] == "remote"
    assert data["retrieval_time_ms"] > 0 and data["total_time_ms"] >= data["generation_time_ms"]
    prompt = chat.requests[-1].body["messages"][0]["content"]
    assert f"[{len(data['sources'])}]" in prompt  # the prompt numbers them as the response does


async def test_merge_ranks_by_similarity_times_weight(client, chat):
    weights = {"policies": 0.1, "manuals": 2.0}
    body = rag(QUESTION, *((name, {"weight": w}) for name, w in weights.items()), max_total=5)
    unweighted = rag(QUESTION, *((name, {}) for name in weights), max_total=5)

    sources = (await client.post(URL, json=body)).json()["sources"]
    even = (await client.post(URL, json=unweighted)).json()["sources"]

    scores = [s["similarity"] * weights[s["metadata"]["source"]] for s in sources]
    assert len(sources) == 5 and scores == sorted(scores, reverse=True)
    # The weights move the merge: the heavier source gains places over equal weights.
    count = [sum(s["metadata"]["source"] == "manuals" for s in found) for found in (sources, even)]
    assert sources[0]["metadata"]["source"] == "manuals" and count[0] > count[1]


async def test_sequential_stops_once_it_has_enough(client, chat):
    body = rag(QUESTION, ("manuals", {"limit": 5}), ("policies", {}), strategy="sequential", max_total=3)
    data = (await client.post(URL, json=body)).json()

    assert data["search_metadata"]["sources_searched"] == ["manuals"]
    assert len(data["sources"]) == 3


async def test_thresholds_and_metadata_filters_apply_per_source(client, chat):
    strict = rag(QUESTION, ("policies", {"similarity_threshold": 0.99}), ("manuals", {}))
    filtered = rag(QUESTION, ("policies", {"metadata_filters": {"tags": ["legal"]}}), ("manuals", {"limit": 1}))

    strict_sources = (await client.post(URL, json=strict)).json()["sources"]
    filtered_sources = (await client.post(URL, json=filtered)).json()["sources"]

    assert {s["metadata"]["source"] for s in strict_sources} == {"manuals"}
    policies = [s for s in filtered_sources if s["metadata"]["source"] == "policies"]
    assert policies and all("legal" in s["metadata"]["tags"] for s in policies)


@pytest.fixture
async def attachments(chat, configure, azurite):
    """The attachments container in Azurite, with a short card and the whole e-bike manual."""
    from azure.storage.blob.aio import BlobServiceClient

    async with BlobServiceClient.from_connection_string(azurite) as service:
        container = service.get_container_client("attachments")
        if not await container.exists():
            await container.create_container()
        await container.upload_blob("cards/bike-care.md", BLOB, overwrite=True)
        manual = (SAMPLE_CORPUS / "zephyr-e-bike-manual.md").read_bytes()
        await container.upload_blob("manuals/zephyr.md", manual, overwrite=True)
    configure(SOURCES_ATTACHMENTS_CONNECTION_STRING=azurite)
    return chat


def attach(*attachments, query="How often should I oil the chain?", mode="attachment", full=True):
    return {
        "query": query,
        "context_mode": mode,
        "attachment_config": {"attachments": list(attachments), "include_full_content": full},
        "llm_model": "remote",
    }


async def test_attachment_mode_answers_from_a_blob_cited_as_1(client, attachments):
    data = (await client.post(URL, json=attach({"storage_key": "cards/bike-care.md"}))).json()

    assert data["response"] == "From the card: oil it every 300 km [1]."
    assert data["documents_used"] == [
        {
            "path": None,
            "storage_key": "cards/bike-care.md",
            "index": 1,
            "title": "Bike care card",
            "content_length": len(BLOB.decode().strip()),
            "content_preview": "# Bike care card Wipe the chain after every wet ride and oil it every 300 km. "
            "Tyres: 3.5 bar.",
        }
    ]
    assert data["sources"] == [] and data["search_metadata"] is None
    prompt = attachments.requests[-1].body["messages"][0]["content"]
    assert "[1] Bike care card: # Bike care card" in prompt


async def test_hybrid_numbers_attachments_first_then_the_knowledge_base(client, attachments):
    body = attach({"storage_key": "cards/bike-care.md", "title": "Care card"}, mode="hybrid")
    body["rag_config"] = {"sources": [{"name": "manuals", "model_name": EMBEDDED_EMBEDDING_MODEL}]}

    data = (await client.post(URL, json=body)).json()

    assert [(d["storage_key"], d["index"], d["title"]) for d in data["documents_used"]] == [
        ("cards/bike-care.md", 1, "Care card")
    ]
    assert data["sources"] and [s["metadata"]["index"] for s in data["sources"]] == list(
        range(2, len(data["sources"]) + 2)
    )
    prompt = attachments.requests[-1].body["messages"][0]["content"]
    assert "[1] Care card:" in prompt and "[2] " in prompt


async def test_excerpts_keep_the_passages_most_like_the_question_within_max_tokens(client, attachments):
    manual = {"storage_key": "manuals/zephyr.md", "max_tokens": 120}
    query = "How long does charging the battery take?"
    whole = (await client.post(URL, json=attach(manual, query=query))).json()
    excerpt = (await client.post(URL, json=attach(manual, query=query, full=False))).json()

    prompt = attachments.requests[-1].body["messages"][0]["content"]
    assert whole["documents_used"][0]["content_preview"].startswith("# Zephyr")  # the start of the manual
    assert "charg" in excerpt["documents_used"][0]["content_preview"].lower()  # the passages about charging
    assert whole["documents_used"][0]["content_length"] == excerpt["documents_used"][0]["content_length"]
    assert "charg" in prompt.lower()


async def test_a_missing_attachment_is_a_404_and_a_key_outside_the_container_a_400(client, attachments):
    for key, status in (("cards/missing.md", 404), ("../other/secret.md", 400), ("/etc/passwd", 400)):
        response = await client.post(URL, json=attach({"storage_key": key}))
        assert response.status_code == status, key
        assert key in response.json()["detail"]


async def test_document_mode_reads_paths_inside_the_documents_root(client, chat):
    body = {
        "query": "What does the warranty cover?",
        "context_mode": "document",
        "document_paths": ["warranty-policy.md", "company-faq.html"],
        "llm_model": "remote",
    }

    data = (await client.post(URL, json=body)).json()

    assert [(d["path"], d["index"]) for d in data["documents_used"]] == [
        ("warranty-policy.md", 1),
        ("company-faq.html", 2),
    ]
    assert data["documents_used"][0]["title"] == "Brightwheel Cycles Warranty Policy"
    assert data["documents_used"][0]["content_length"] > 500
    for path, status in (
        ("../README.md", 400),
        ("/etc/passwd", 400),
        ("nothing.md", 404),
        ("warranty-policy.md.meta.json", 400),
    ):
        body["document_paths"] = [path]
        assert (await client.post(URL, json=body)).status_code == status, path


async def test_context_mode_none_answers_without_retrieval_with_the_embedded_model(client, chat):
    body = {"query": "Say hello.", "context_mode": "none", "max_tokens": 8}
    data = (await client.post(URL, json=body)).json()

    assert data["response"] and data["model_used"] == "smollm2"
    assert data["sources"] == [] and data["search_metadata"] is None and data["documents_used"] is None
    assert chat.requests == []


async def test_a_conversation_id_keeps_the_history(client, chat):
    first = {
        "query": "What is the return period?",
        "context_mode": "none",
        "llm_model": "remote",
        "conversation_id": "c-1",
    }
    await client.post(URL, json=first)
    await client.post(URL, json=first | {"query": "And for e-bikes?"})

    sent = [m["content"] for m in chat.requests[-1].body["messages"][1:]]
    # No retrieval, no sources: the model's [1] named nothing, so the stored answer is without it.
    assert sent == ["What is the return period?", "From the card: oil it every 300 km.", "And for e-bikes?"]


async def test_backends_that_are_not_configured_are_a_503_naming_them(client, chat, configure):
    configure(SOURCES_DOCUMENTS_ROOT="")
    attachment = {
        "query": "q",
        "context_mode": "attachment",
        "attachment_config": {"attachments": [{"storage_key": "a.md"}]},
    }
    document = {"query": "q", "context_mode": "document", "document_paths": ["a.md"]}

    for body, setting in ((attachment, "SOURCES_ATTACHMENTS_CONNECTION_STRING"), (document, "SOURCES_DOCUMENTS_ROOT")):
        response = await client.post(URL, json=body)
        assert response.status_code == 503 and setting in response.json()["detail"]


async def test_a_generation_failure_is_a_structured_500(client, chat):
    response = await client.post(URL, json={"query": "q", "context_mode": "none", "llm_model": "failing"})

    assert response.status_code == 500
    assert response.json() == {
        "detail": "The language model failed to produce an answer.",
        "code": "model_failed",
        "stage": "generation",
    }


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"rag_config": {"sources": [{"name": "nowhere", "model_name": EMBEDDED_EMBEDDING_MODEL}]}}, 400),
        ({"rag_config": {"sources": [{"name": "manuals", "model_name": "openai-small"}]}}, 400),
        ({"embedding_model": "openai-small"}, 400),
        ({"llm_model": "gpt-unknown"}, 400),
        (
            {
                "rag_config": {
                    "sources": [
                        {
                            "name": "manuals",
                            "model_name": EMBEDDED_EMBEDDING_MODEL,
                            "metadata_filters": {"colour": "red"},
                        }
                    ]
                }
            },
            400,
        ),
    ],
)
async def test_unknown_sources_and_models_are_refused(client, chat, change, status):
    response = await client.post(URL, json={"query": "Battery?"} | change)

    assert response.status_code == status
    assert isinstance(response.json()["detail"], str)


SOURCE = {"name": "manuals", "model_name": EMBEDDED_EMBEDDING_MODEL}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"query": ""}, ["body", "query"]),
        ({"query": "x" * 10_001}, ["body", "query"]),
        ({"history": [{"role": "user", "content": "hi"}] * 51}, ["body", "history"]),
        ({"history": [{"role": "tool", "content": "hi"}]}, ["body", "history", 0, "role"]),
        ({"history": [{"role": "user", "content": ""}]}, ["body", "history", 0, "content"]),
        ({"context_mode": "everything"}, ["body", "context_mode"]),
        ({"rag_config": {"sources": [SOURCE | {"limit": 0}]}}, ["body", "rag_config", "sources", 0, "limit"]),
        ({"rag_config": {"sources": [SOURCE | {"limit": 51}]}}, ["body", "rag_config", "sources", 0, "limit"]),
        (
            {"rag_config": {"sources": [SOURCE | {"similarity_threshold": 1.1}]}},
            ["body", "rag_config", "sources", 0, "similarity_threshold"],
        ),
        ({"rag_config": {"sources": [SOURCE | {"weight": 2.1}]}}, ["body", "rag_config", "sources", 0, "weight"]),
        ({"rag_config": {"retrieval_strategy": "magic"}}, ["body", "rag_config", "retrieval_strategy"]),
        ({"rag_config": {"max_total_results": 0}}, ["body", "rag_config", "max_total_results"]),
        ({"rag_config": {"max_total_results": 51}}, ["body", "rag_config", "max_total_results"]),
        (
            {"attachment_config": {"attachments": [{"storage_key": "a.md"}] * 21}},
            ["body", "attachment_config", "attachments"],
        ),
        (
            {"attachment_config": {"attachments": [{"storage_key": ""}]}},
            ["body", "attachment_config", "attachments", 0, "storage_key"],
        ),
        (
            {"attachment_config": {"attachments": [{"storage_key": "a.md", "max_tokens": 0}]}},
            ["body", "attachment_config", "attachments", 0, "max_tokens"],
        ),
        ({"document_paths": ["a.md"] * 21}, ["body", "document_paths"]),
        ({"temperature": 2.1}, ["body", "temperature"]),
        ({"max_tokens": 0}, ["body", "max_tokens"]),
        ({"max_tokens": 8193}, ["body", "max_tokens"]),
        ({"conversation_id": "../x"}, ["body", "conversation_id"]),
        ({"context_mode": "attachment"}, ["body"]),
        ({"context_mode": "document"}, ["body"]),
        ({"surprise": True}, ["body", "surprise"]),
    ],
)
async def test_every_limit_is_a_422(client, change, loc):
    response = await client.post(URL, json={"query": "Battery?"} | change)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
