"""Azure AI Search and Azure OpenAI embeddings, through the real SDKs, by the exact requests they send.

There is no local Azure AI Search: a recording server answers with canned responses in
the service's wire format, and the tests check every request on the wire.
"""

from __future__ import annotations

import numpy as np
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.search.documents.aio import SearchClient
from azure.search.documents.indexes.aio import SearchIndexClient

from shared import backends
from shared.core.errors import RequestError, UpstreamError
from shared.core.types import Chunk, RetrievalSpec
from shared.embeddings.azure_openai import AzureOpenAIEmbeddings
from shared.families.flexible import fetcher_data
from shared.retrieval.azure_search import AzureSearchIndexWriter, AzureSearchRetriever
from shared.retrieval.embedded import EmbeddedRetriever
from shared.retrieval.query import SearchOptions, private_documents_filter
from shared.settings import EmbeddingSettings
from shared.wire.flexible_responses import source_out
from tests.recording_server import RecordingServer

SEARCH_PATH = "/indexes('docs')/docs/search.post.search"

CANNED_SEARCH = {
    "@odata.count": 4,
    "@search.facets": {"category": [{"value": "policy", "count": 4}]},
    "value": [
        {
            "@search.score": 0.0325,
            "@search.highlights": {"text": ["the <em>frame</em> has a 10 year <em>warranty</em>"]},
            "id": "e517607428c98d22-0",
            "filename": "warranty-policy.md",
            "text": "# Brightwheel Cycles Warranty Policy ...",
        },
        {
            "@search.score": 0.0161,
            "id": "0fd3f4c1bb0e2c9a-1",
            "filename": "returns-and-shipping.md",
            "text": "Returns within 30 days ...",
        },
    ],
}


def search_answer(request):
    if request.path == SEARCH_PATH:
        return 200, CANNED_SEARCH
    return 404, {"error": {"code": "NotFound", "message": request.path}}


@pytest.fixture
def service():
    with RecordingServer(search_answer) as server:
        yield server


def azure_retriever(server, **options):
    client = SearchClient(server.url, "docs", AzureKeyCredential("test-query-key"), retry_total=0)
    security = {"security_field": options.pop("security_field")} if "security_field" in options else {}
    embeddings = None if options.get("vectorizer") else backends.embeddings()
    return AzureSearchRetriever(client, "docs", embeddings, SearchOptions(3, 50, **security), **options)


FULL_SPEC = RetrievalSpec(
    query="frame warranty",
    filter="category eq 'policy'",
    top_k=2,
    include_total_count=True,
    facets=("category,count:5",),
    highlight_fields=("text",),
    select_fields=("id", "filename"),
)


async def test_every_fetcher_argument_reaches_the_service(service):
    result = await azure_retriever(service).search("ignored: query wins", FULL_SPEC)

    [request] = service.requests
    assert (request.method, request.path) == ("POST", SEARCH_PATH)
    assert request.query["api-version"]
    assert request.headers["api-key"] == "test-query-key"
    body = request.body
    vector_query = body.pop("vectorQueries")
    assert body == {
        "search": "frame warranty",
        # Without a security field, users' uploads are still trimmed to their owners.
        "filter": f"({private_documents_filter(None)}) and (category eq 'policy')",
        "top": 2,
        "count": True,
        "facets": ["category,count:5"],
        "highlight": "text",
        "highlightPreTag": "<em>",
        "highlightPostTag": "</em>",
        "select": "filename,id,text",
    }
    assert vector_query[0]["kind"] == "vector" and vector_query[0]["fields"] == "embedding"
    assert vector_query[0]["k"] == 50  # the same number of fusion candidates as the embedded index
    expected = await backends.embeddings().embed_query("frame warranty")
    assert np.allclose(vector_query[0]["vector"], expected, atol=1e-6)

    assert [s.fields for s in result.sources] == [
        {"id": "e517607428c98d22-0", "filename": "warranty-policy.md"},
        {"id": "0fd3f4c1bb0e2c9a-1", "filename": "returns-and-shipping.md"},
    ]
    assert result.sources[0].score == 0.0325
    assert result.sources[0].highlights == {"text": ["the <em>frame</em> has a 10 year <em>warranty</em>"]}
    assert result.count == 4
    assert result.facets == {"category": [{"value": "policy", "count": 4}]}


async def test_full_text_only_and_semantic_ranker(service):
    retriever = azure_retriever(service, semantic_configuration="default-semantic")

    await retriever.search("warranty", RetrievalSpec(vector_search=False))

    body = service.requests[0].body
    assert "vectorQueries" not in body
    assert (body["queryType"], body["semanticConfiguration"]) == ("semantic", "default-semantic")
    assert body["top"] == 3 and body["search"] == "warranty"


async def test_vector_only_sends_no_search_text_and_scores_by_cosine(service):
    result = await azure_retriever(service).search("battery range", RetrievalSpec(vector_only=True, top_k=2))

    body = service.requests[0].body
    assert "search" not in body and body["top"] == 2
    assert body["vectorQueries"][0]["kind"] == "vector" and len(body["vectorQueries"][0]["vector"]) == 384
    # Azure scores a cosine vector query 1 / (1 + (1 - cosine)): 0.0325 is far, and comes back as such.
    assert result.sources[0].score == pytest.approx(2 - 1 / 0.0325)


async def test_the_index_vectorizer_embeds_the_query_when_configured(service):
    await azure_retriever(service, vectorizer=True).search("battery range", RetrievalSpec())

    [vector_query] = service.requests[0].body["vectorQueries"]
    assert vector_query == {"kind": "text", "text": "battery range", "k": 50, "fields": "embedding"}


async def test_security_filter_is_anded_and_fails_closed(service):
    retriever = azure_retriever(service, security_field="allowed_principals")

    await retriever.search("q", RetrievalSpec(filter="category eq 'policy' or category eq 'manual'"), "o'neil")
    nobody = await retriever.search("q", RetrievalSpec(include_total_count=True), None)

    assert service.requests[0].body["filter"] == (
        "(allowed_principals/any(p: p eq 'o''neil')) and (category eq 'policy' or category eq 'manual')"
    )
    assert len(service.requests) == 1  # no identity: nothing is sent, nothing is found
    assert nobody.sources == () and nobody.count == 0


@pytest.mark.parametrize(
    "spec",
    [
        RetrievalSpec(filter="category eq"),
        RetrievalSpec(facets=("speaker,count:5",)),
        RetrievalSpec(highlight_fields=("nope",)),
        RetrievalSpec(select_fields=("secret",)),
        RetrievalSpec(top_k=500),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(service, spec):
    with pytest.raises(RequestError):
        await azure_retriever(service).search("q", spec)

    assert service.requests == []


async def test_a_failing_service_is_an_upstream_error():
    unavailable = (503, {"error": {"code": "ServiceUnavailable", "message": "busy"}})
    with RecordingServer(lambda request: unavailable) as down, pytest.raises(UpstreamError):
        await azure_retriever(down).search("q", RetrievalSpec(vector_search=False))


async def test_both_backends_answer_the_same_request_with_the_same_shapes(service, sample_index):
    embedded = EmbeddedRetriever(sample_index, backends.embeddings(), SearchOptions(3, 50))

    local = await embedded.search("frame warranty", FULL_SPEC)
    remote = await azure_retriever(service).search("frame warranty", FULL_SPEC)

    assert local.sources and remote.sources
    for result in (local, remote):
        assert {tuple(sorted(source_out(s))) for s in result.sources} <= {
            ("@search.highlights", "@search.score", "filename", "id", "source_url"),
            ("@search.score", "filename", "id", "source_url"),
        }
        assert set(result.facets) == {"category"}
        assert all(set(entry) == {"value", "count"} for entry in result.facets["category"])
        assert isinstance(result.count, int)
    assert local.sources[0].highlights["text"][0].count("<em>") >= 1
    data = [set(fetcher_data(r)["AzureSearchFetcher"]) for r in (local, remote)]
    assert data[0] == data[1] == {"index", "count", "facets", "highlights"}


# --- the index writer used by ingestion ---


async def test_index_writer_creates_the_schema_and_replaces_chunks():
    existing_ids = ["abc-0", "abc-1", "abc-2"]

    def answer(request):
        if request.method == "PUT":
            return 201, request.body
        if request.path.endswith("/docs/search.index"):
            return 200, {"value": [{"key": d["id"], "status": True, "statusCode": 200} for d in request.body["value"]]}
        if request.path == SEARCH_PATH:
            return 200, {"value": [{"@search.score": 1, "id": i} for i in existing_ids]}
        return 404, None

    with RecordingServer(answer) as server:
        credential = AzureKeyCredential("test-admin-key")
        writer = AzureSearchIndexWriter(
            SearchIndexClient(server.url, credential, retry_total=0),
            SearchClient(server.url, "docs", credential, retry_total=0),
            "docs",
            semantic_configuration="default-semantic",
        )
        await writer.ensure_index("text-embedding-3-small", 384)
        chunks = [
            Chunk("guide.md", "Guide", i, None, f"part {i}", "hash1", "manual", ("a",), ("team",)) for i in range(2)
        ]
        existing_ids[:] = [chunks[0].id, chunks[1].id, f"{chunks[0].id[:-2]}-2"]  # the old version had 3 chunks
        await writer.replace_documents([("guide.md", "hash1", chunks, [np.ones(384) / 384**0.5] * 2)])
        await writer.close()

    create, upload, lookup, delete = server.requests
    assert (create.method, create.path) == ("PUT", "/indexes('docs')")
    fields = {f["name"]: f for f in create.body["fields"]}
    assert fields["embedding"]["dimensions"] == 384
    assert fields["id"]["key"] is True
    assert fields["tags"]["type"] == "Collection(Edm.String)" and fields["tags"]["facetable"] is True
    assert fields["allowed_principals"]["retrievable"] is False
    assert create.body["semantic"]["configurations"][0]["name"] == "default-semantic"
    assert [d["@search.action"] for d in upload.body["value"]] == ["mergeOrUpload", "mergeOrUpload"]
    assert upload.body["value"][0]["filename"] == "guide.md" and len(upload.body["value"][0]["embedding"]) == 384
    assert lookup.body["filter"] == "filename eq 'guide.md'"
    assert delete.body["value"] == [{"@search.action": "delete", "id": existing_ids[2]}]


async def test_the_writer_reads_every_page_of_a_long_document_and_of_the_document_list():
    """The service answers 50 matches without `top`, and pages a larger one: a document of more
    chunks is deleted whole, and every document's hash is known (the CLI's prune, a blob's event)."""
    pages = {
        0: [
            {"@search.score": 1, "id": f"long-{i}", "filename": f"f{i}.md", "content_hash": f"h{i}"}
            for i in range(1000)
        ],
        1000: [
            {"@search.score": 1, "id": f"long-{i}", "filename": f"f{i}.md", "content_hash": f"h{i}"}
            for i in range(1000, 1200)
        ],
    }

    def answer(request):
        if request.path.endswith("/docs/search.index"):
            return 200, {"value": [{"key": d["id"], "status": True, "statusCode": 200} for d in request.body["value"]]}
        skip = request.body.get("skip") or 0
        page = {"value": pages[skip][: request.body["top"]]}
        if (
            skip == 0 and request.body["top"] > 1000
        ):  # the service's continuation: the same request from the next page on
            page["@search.nextPageParameters"] = {**request.body, "skip": 1000, "top": request.body["top"] - 1000}
            page["@odata.nextLink"] = f"{server.url}{request.path}?api-version={request.query['api-version']}"
        return 200, page

    with RecordingServer(answer) as server:
        credential = AzureKeyCredential("test-admin-key")
        writer = AzureSearchIndexWriter(
            SearchIndexClient(server.url, credential, retry_total=0),
            SearchClient(server.url, "docs", credential, retry_total=0),
            "docs",
        )
        hashes = await writer.document_hashes()
        await writer.delete_document("long.md")
        one = await writer.document_hash("f0.md")
        await writer.close()

    assert len(hashes) == 1200 and hashes["f1199.md"] == "h1199"
    searches = [r for r in server.requests if r.path == SEARCH_PATH]
    assert searches[0].body["filter"] == "chunk_index eq 0" and searches[0].body["top"] > 1000
    assert searches[1].body["skip"] == 1000
    assert searches[2].body["filter"] == "filename eq 'long.md'"
    deleted = [d["id"] for r in server.requests if r.path.endswith("/docs/search.index") for d in r.body["value"]]
    assert len(deleted) == 1200 and deleted[-1] == "long-1199"
    # One document's hash (each blob event asks): one match of one query, not the whole list.
    assert one == "h0" and searches[-1].body["filter"] == "filename eq 'f0.md' and chunk_index eq 0"
    assert searches[-1].body["top"] == 1 and searches[-1].body["select"] == "content_hash"


# --- Azure OpenAI embeddings ---


async def test_azure_openai_embeddings_request_and_normalization():
    def answer(request):
        vectors = [[3.0, 4.0], [0.0, 2.0]][: len(request.body["input"])]
        return 200, {
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": 4, "total_tokens": 4},
        }

    with RecordingServer(answer) as server:
        embeddings = AzureOpenAIEmbeddings(
            EmbeddingSettings(
                provider="azure_openai", endpoint=server.url, deployment="emb", api_key="test-openai-key", dimensions=2
            )
        )
        vectors = await embeddings.embed_documents(["a", "b"])

    [request] = server.requests
    assert request.path == "/openai/deployments/emb/embeddings"
    assert request.headers["api-key"] == "test-openai-key"
    assert request.body["input"] == ["a", "b"] and request.body["dimensions"] == 2
    assert np.allclose(vectors, [[0.6, 0.8], [0.0, 1.0]])
