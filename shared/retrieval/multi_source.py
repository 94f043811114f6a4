"""Search several named knowledge sources for one query, and combine what they find.

Strategies:
- merge: every source at once (vector search), each hit scored similarity x the source's
  weight, all merged best first;
- sequential: the sources in the order given, until max_total_results is reached;
- ensemble: per source, reciprocal rank fusion of vector and keyword rankings (the hybrid
  search both backends run), then the sources fused again by RRF, weighted.

`similarity` is always the cosine similarity of query and passage in the source's
embedding space: the vector search's own score, or, for passages only the keyword ranking
found (ensemble), computed from their text. Thresholds apply to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.core.errors import RequestError
from shared.core.interfaces import Embeddings, Retriever
from shared.core.source_plan import NamedSource, Strategy
from shared.core.types import RetrievalSpec, Source
from shared.retrieval.odata import metadata_filter
from shared.retrieval.query import RRF_K
from shared.retrieval.schema import RETRIEVABLE

DEFAULT_THRESHOLD = 0.7  # the multi-source API's documented default
# all-MiniLM-L6-v2's cosine similarities spread lower than multilingual-e5-small's: 0.1 keeps
# the best passage of every ground-truth question (the lowest is 0.13), as 0.7 does with e5
# (the lowest is 0.78), and drops passages that share nothing with the question.
_MODEL_THRESHOLDS = {"all-MiniLM-L6-v2-int8": 0.1}


def default_threshold(embedding_model: str) -> float:
    """The similarity threshold of a source whose request names none."""
    return _MODEL_THRESHOLDS.get(embedding_model, DEFAULT_THRESHOLD)


@dataclass(frozen=True)
class SourceQuery:
    """One source as a request configures it."""

    name: str
    limit: int = 5
    threshold: float | None = None  # None: the embedding model's default_threshold()
    weight: float = 1.0
    filter: str | None = None  # OData


def source_queries(named: Sequence[NamedSource] | None, configured: Mapping[str, str]) -> list[SourceQuery]:
    """The sources to search: those named, else (None) every configured one, with the defaults.

    `configured` maps each source to its embedding model; RequestError for an unknown source,
    a source embedded with another model than the request says, or a bad metadata filter."""
    if named is None:
        return [SourceQuery(name) for name in configured]
    queries = []
    for n, source in enumerate(named):
        if source.name not in configured:
            raise RequestError(
                f"rag_config.sources[{n}]: no source {source.name!r}; configured: {', '.join(configured)}",
                field=f"rag_config.sources.{n}.name",
            )
        if source.embedding_model != configured[source.name]:
            raise RequestError(
                f"rag_config.sources[{n}]: source {source.name!r} is embedded with "
                f"{configured[source.name]!r}, not {source.embedding_model!r}",
                field=f"rag_config.sources.{n}.model_name",
            )
        filters = metadata_filter(source.metadata_filters or {})
        queries.append(SourceQuery(source.name, source.limit, source.threshold, source.weight, filters))
    return queries


@dataclass(frozen=True)
class Hit:
    source: Source
    source_name: str
    similarity: float
    score: float  # what the strategy ranked by


@dataclass
class MultiSourceResult:
    hits: list[Hit]
    candidates_evaluated: int = 0
    sources_searched: list[str] = field(default_factory=list)


class MultiSourceSearch:
    def __init__(self, retrievers: Mapping[str, Retriever], embeddings: Embeddings) -> None:
        self._retrievers = retrievers
        self._embeddings = embeddings

    async def run(
        self, query: str, sources: Sequence[SourceQuery], strategy: Strategy, max_total: int, identity: str | None
    ) -> MultiSourceResult:
        if strategy == "sequential":
            return await self._sequential(query, sources, max_total, identity)
        # Ensemble measures similarity itself (keyword hits have no cosine): the query is embedded once.
        vector = await self._embeddings.embed_query(query) if strategy == "ensemble" else None
        found = await asyncio.gather(*(self._search(query, s, identity, vector) for s in sources))
        result = MultiSourceResult([], sum(len(hits) for hits in found), [s.name for s in sources])
        if strategy == "merge":
            merged = [h for hits in found for h in hits]
        else:  # ensemble: each source's fused ranking, fused again across sources, by weight
            merged = [
                Hit(h.source, h.source_name, h.similarity, s.weight / (RRF_K + rank))
                for s, hits in zip(sources, found, strict=True)
                for rank, h in enumerate(hits, start=1)
            ]
        result.hits = sorted(merged, key=lambda h: h.score, reverse=True)[:max_total]
        return result

    async def _sequential(
        self, query: str, sources: Sequence[SourceQuery], max_total: int, identity: str | None
    ) -> MultiSourceResult:
        result = MultiSourceResult([])
        for source in sources:
            if len(result.hits) >= max_total:
                break
            hits = await self._search(query, source, identity)
            result.sources_searched.append(source.name)
            result.candidates_evaluated += len(hits)
            result.hits.extend(hits[: max_total - len(result.hits)])
        return result

    async def _search(
        self, query: str, source: SourceQuery, identity: str | None, ensemble_vector: np.ndarray | None = None
    ) -> list[Hit]:
        """The source's best `limit` hits, best first, less those under its similarity threshold:
        by vector search, or (given the query's vector) by hybrid search, the ensemble's."""
        ensemble = ensemble_vector is not None
        spec = RetrievalSpec(
            query=query,
            top_k=source.limit,
            filter=source.filter,
            select_fields=RETRIEVABLE,
            vector_search=True,
            vector_only=not ensemble,
        )
        found = await self._retrievers[source.name].search(query, spec, identity)
        sources = found.sources
        if ensemble:
            similarities = await self._similarities(ensemble_vector, sources)
        else:
            similarities = [s.score for s in sources]  # a vector-only search scores by cosine
        threshold = default_threshold(self._embeddings.name) if source.threshold is None else source.threshold
        return [
            Hit(s, source.name, similarity, similarity * source.weight)
            for s, similarity in zip(sources, similarities, strict=True)
            if similarity >= threshold
        ]

    async def _similarities(self, question: np.ndarray, sources: Sequence[Source]) -> list[float]:
        if not sources:
            return []
        passages = await self._embeddings.embed_documents([s.text for s in sources])
        return [float(v) for v in np.asarray(passages) @ np.asarray(question)]
