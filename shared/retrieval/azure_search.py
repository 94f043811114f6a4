"""Azure AI Search: the retriever, and the index writer used by ingestion.

Requests are validated and planned exactly as for the embedded index
(shared.retrieval.query), so the same request gives the same behaviour on both.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, HttpResponseError

from shared.core.errors import UpstreamError
from shared.core.interfaces import Embeddings
from shared.core.types import Chunk, RetrievalSpec, SearchResult, Source
from shared.retrieval import odata
from shared.retrieval.query import FUSION_CANDIDATES, SearchOptions, SearchPlan
from shared.retrieval.schema import FIELDS, VECTOR_FIELD, index_document

if TYPE_CHECKING:
    import numpy as np
    from azure.search.documents.aio import SearchClient
    from azure.search.documents.indexes.aio import SearchIndexClient

log = logging.getLogger(__name__)

UPLOAD_BATCH = 500
# Without `top` the service returns 50 matches and no more. A larger `top` comes in pages of
# 1,000 that the SDK follows (its continuation); 100,000 is as far as the service's paging goes.
EVERY_MATCH = 100_000
VECTOR_PROFILE = "default-vector-profile"


def _cosine(score: float) -> float:
    """A vector query's @search.score back to cosine similarity: for the cosine metric Azure AI
    Search scores 1 / (1 + distance), with distance = 1 - similarity."""
    return 2.0 - 1.0 / score


class AzureSearchRetriever:
    def __init__(
        self,
        client: SearchClient,
        index_name: str,
        embeddings: Embeddings | None,
        options: SearchOptions,
        *,
        vectorizer: bool = False,
        semantic_configuration: str | None = None,
    ) -> None:
        self._client = client
        self._embeddings = embeddings
        self._options = options
        self._vectorizer = vectorizer
        self._semantic_configuration = semantic_configuration
        self.index_name = index_name

    async def search(self, question: str, spec: RetrievalSpec, identity: str | None = None) -> SearchResult:
        plan = await self._options.planned(question, spec, identity)
        if not plan.searches:
            return plan.empty_result(self.index_name)
        vector_queries = await self._vector_queries(plan) if plan.uses_vectors else None
        semantic: dict[str, Any] = (
            {"query_type": "semantic", "semantic_configuration_name": self._semantic_configuration}
            if self._semantic_configuration
            else {}
        )
        try:
            results = await self._client.search(
                search_text=None if plan.vector_only else plan.text or "*",
                top=plan.top_k,
                select=sorted({*plan.select, "id", "text"}),
                filter=plan.filter_text,
                include_total_count=plan.include_total_count,
                facets=[f.expression for f in plan.facets] or None,
                highlight_fields=",".join(plan.highlight_fields) or None,
                highlight_pre_tag="<em>",
                highlight_post_tag="</em>",
                vector_queries=vector_queries,
                **semantic,
            )
            documents = [document async for document in results]
            count = await results.get_count() if plan.include_total_count else None
            facets = await results.get_facets() if plan.facets else None
        except HttpResponseError as exc:
            if exc.status_code == 400:  # the request was validated here: the index does not match our schema
                log.error("Azure AI Search refused a validated request: %s", exc.message)
            raise UpstreamError("search_failed", "The knowledge base search failed.") from exc
        except AzureError as exc:
            raise UpstreamError("search_failed", "The knowledge base search failed.") from exc

        sources = tuple(
            Source(
                id=document["id"],
                index_name=self.index_name,
                score=_cosine(document["@search.score"]) if plan.vector_only else document["@search.score"],
                text=document.get("text") or "",
                fields={name: document.get(name) for name in plan.select},
                highlights=document.get("@search.highlights"),
            )
            for document in documents
        )
        return SearchResult(
            sources=sources,
            index_name=self.index_name,
            count=count,
            facets={
                name: [{"value": f["value"], "count": f["count"]} for f in values] for name, values in facets.items()
            }
            if facets is not None
            else None,
        )

    async def _vector_queries(self, plan: SearchPlan) -> list[Any]:
        """The plan's vector query: its text, vectorized by the index itself or embedded here."""
        from azure.search.documents.models import VectorizableTextQuery, VectorizedQuery

        k = max(plan.top_k, FUSION_CANDIDATES)  # as many candidates as the embedded index fuses
        # Fused as the embedded index fuses; Azure's default weight is 1, so only another is sent.
        weight = None if plan.vector_only or plan.vector_weight == 1 else plan.vector_weight
        if self._vectorizer:
            return [VectorizableTextQuery(text=plan.text, k_nearest_neighbors=k, fields=VECTOR_FIELD, weight=weight)]
        vector = await self._embeddings.embed_query(plan.text)
        return [VectorizedQuery(vector=vector.tolist(), k_nearest_neighbors=k, fields=VECTOR_FIELD, weight=weight)]


class AzureSearchIndexWriter:
    """Creates or updates the index schema, and replaces documents' chunks for ingestion."""

    def __init__(
        self,
        index_client: SearchIndexClient,
        client: SearchClient,
        index_name: str,
        semantic_configuration: str | None = None,
    ) -> None:
        self._index_client = index_client
        self._client = client
        self._semantic_configuration = semantic_configuration
        self.name = index_name

    async def ensure_index(self, model: str, dimensions: int) -> None:
        # The index definition has no place for the model: Azure refuses a change of dimensions itself.
        await self._index_client.create_or_update_index(
            index_definition(self.name, dimensions, self._semantic_configuration)
        )

    async def document_hashes(self) -> dict[str, str]:
        results = await self._client.search(
            search_text="*", filter="chunk_index eq 0", select=["filename", "content_hash"], top=EVERY_MATCH
        )
        return {document["filename"]: document["content_hash"] async for document in results}

    async def document_hash(self, filename: str) -> str | None:
        results = await self._client.search(
            search_text="*",
            filter=f"filename eq {odata.quote(filename)} and chunk_index eq 0",
            select=["content_hash"],
            top=1,
        )
        return next(iter([document["content_hash"] async for document in results]), None)

    async def replace_document(
        self, filename: str, content_hash: str, chunks: Sequence[Chunk], vectors: Sequence[np.ndarray]
    ) -> None:
        documents = [
            {**index_document(chunk), "id": chunk.id, VECTOR_FIELD: [float(x) for x in vector]}
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        for start in range(0, len(documents), UPLOAD_BATCH):
            await self._client.merge_or_upload_documents(documents[start : start + UPLOAD_BATCH])
        kept = {d["id"] for d in documents}
        stale = [i for i in await self._chunk_ids(filename) if i not in kept]
        if stale:  # the document got shorter: drop its old tail
            await self._client.delete_documents([{"id": i} for i in stale])

    async def replace_documents(
        self, documents: Sequence[tuple[str, str, Sequence[Chunk], Sequence[np.ndarray]]]
    ) -> None:
        for filename, content_hash, chunks, vectors in documents:
            await self.replace_document(filename, content_hash, chunks, vectors)

    async def delete_document(self, filename: str) -> None:
        ids = await self._chunk_ids(filename)
        if ids:
            await self._client.delete_documents([{"id": i} for i in ids])

    async def chunk_count(self) -> int:
        return await self._client.get_document_count()

    async def complete(
        self, embed: Callable[[list[str]], Awaitable[Sequence[np.ndarray]]], filename: str | None = None
    ) -> None:
        """Nothing: the index's fixed schema has no place for the answer candidates' vectors, which
        the extractive answers compute when a question comes."""

    async def close(self) -> None:
        await self._index_client.close()
        await self._client.close()

    async def _chunk_ids(self, filename: str) -> list[str]:
        results = await self._client.search(
            search_text="*", filter=f"filename eq {odata.quote(filename)}", select=["id"], top=EVERY_MATCH
        )
        return [document["id"] async for document in results]


def index_definition(name: str, dimensions: int, semantic_configuration: str | None = None) -> Any:
    """The Azure AI Search index for shared.retrieval.schema.FIELDS, with an HNSW vector field."""
    from azure.search.documents.indexes.models import (
        HnswAlgorithmConfiguration,
        SearchField,
        SearchFieldDataType,
        SearchIndex,
        SemanticConfiguration,
        SemanticField,
        SemanticPrioritizedFields,
        SemanticSearch,
        VectorSearch,
        VectorSearchProfile,
    )

    fields = [
        SearchField(
            name=f.name,
            type=f.type,
            key=f.key,
            searchable=f.searchable,
            filterable=f.filterable,
            facetable=f.facetable,
            hidden=not f.retrievable,
        )
        for f in FIELDS
    ]
    fields.append(
        SearchField(
            name=VECTOR_FIELD,
            # Collection is a static method on the enum class, which the SDK's types do not say
            type=SearchFieldDataType.Collection(SearchFieldDataType.Single),  # type: ignore[operator]
            searchable=True,
            vector_search_dimensions=dimensions,
            vector_search_profile_name=VECTOR_PROFILE,
        )
    )
    semantic = (
        SemanticSearch(
            configurations=[
                SemanticConfiguration(
                    name=semantic_configuration,
                    prioritized_fields=SemanticPrioritizedFields(
                        title_field=SemanticField(field_name="title"),
                        content_fields=[SemanticField(field_name="text")],
                        keywords_fields=[SemanticField(field_name="section")],
                    ),
                )
            ]
        )
        if semantic_configuration
        else None
    )
    return SearchIndex(
        name=name,
        fields=fields,
        vector_search=VectorSearch(
            algorithms=[HnswAlgorithmConfiguration(name="hnsw")],
            profiles=[VectorSearchProfile(name=VECTOR_PROFILE, algorithm_configuration_name="hnsw")],
        ),
        semantic_search=semantic,
    )
