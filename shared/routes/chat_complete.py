"""Multi-source RAG chat: POST /api/v1/chat/complete."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from shared.config import get_settings
from shared.http.endpoints import Answer, Call, api
from shared.http.errors import HttpError

if TYPE_CHECKING:
    from shared.retrieval.request_context import RequestContext
    from shared.wire.chat_complete import ChatCompleteRequest

FAMILY = "Multi-source chat"
INDEX_TYPES = {"embedded": "embedded", "azure": "azure_ai_search"}
ANALYZERS = {"embedded": "unicode61", "azure": "standard.lucene"}  # what keyword search tokenizes with


@api.operation(
    "POST",
    "v1/chat/complete",
    "Multi-source RAG chat",
    FAMILY,
    body="chat_complete.ChatCompleteRequest",
    response="chat_complete.ChatCompleteResponse",
    errors=(400, 404, 422, 500, 503),
)
async def chat_complete(call: Call) -> Answer:
    """RAG chat over named sources (merge, sequential or ensemble), attachments and documents."""
    from shared.backends import data_sources, orchestrator
    from shared.wire import chat_complete as wire

    started = time.perf_counter()
    body = call.body
    context = _context(body)
    result = await orchestrator().answer(body.turn_request(call.principal()), retriever=context)
    if result.errors:
        # The multi-source contract: a generation failure is a 500 with a structured body; a failed backend a 503.
        error = result.errors[0]
        status = 500 if error.stage == "generation" else 503
        raise HttpError(status, error.message, code=error.code, stage=error.stage)

    sources = data_sources()
    embedding_model = get_settings().embeddings.model_name
    search = None
    if context.found is not None:
        backends_used = {sources[name].backend for name in context.found.sources_searched}
        keyword = context.strategy == "ensemble"
        hybrid = get_settings().search.vector_weight  # each source's hybrid fusion, vector to keyword
        search = wire.SearchMetadata(
            strategy=context.strategy,
            candidates_evaluated=context.found.candidates_evaluated,
            embedding_model=embedding_model,
            index_type=", ".join(sorted(INDEX_TYPES[b] for b in backends_used)),
            vector_weight=round(hybrid / (1 + hybrid), 4) if keyword else 1.0,
            keyword_weight=round(1 / (1 + hybrid), 4) if keyword else 0.0,
            language=", ".join(sorted(ANALYZERS[b] for b in backends_used)) if keyword else None,
            sources_searched=context.found.sources_searched,
        )
    response = wire.chat_complete_response(
        body,
        result,
        embedding_model=embedding_model,
        index_types={name: INDEX_TYPES[s.backend] for name, s in sources.items()},
        search=search,
        content_lengths=context.content_lengths,
        total_ms=(time.perf_counter() - started) * 1000,
    )
    return response


def _context(body: ChatCompleteRequest) -> RequestContext:
    """The request's retriever; NotConfigured (503) when it needs a backend that is not set up."""
    from shared import backends
    from shared.core.errors import NotConfigured, RequestError
    from shared.retrieval.request_context import RequestContext

    settings = get_settings()
    embedding_model = settings.embeddings.model_name
    if body.embedding_model not in (None, embedding_model):
        raise RequestError(
            f"embedding_model {body.embedding_model!r} is not configured; this deployment embeds with "
            f"{embedding_model!r}",
            field="embedding_model",
        )
    documents = body.documents()
    kinds = {d.kind for d in documents}
    if "attachment" in kinds and not settings.sources.attachments_configured():
        raise NotConfigured(
            "attachments are not configured: set SOURCES_ATTACHMENTS_CONNECTION_STRING or "
            "SOURCES_ATTACHMENTS_ACCOUNT_URL",
            field="attachment_config",
        )
    if "document" in kinds and settings.sources.documents_root is None:
        raise NotConfigured("documents are not configured: set SOURCES_DOCUMENTS_ROOT", field="document_paths")
    configured = {name: s.embedding_model or embedding_model for name, s in backends.data_sources().items()}
    queries = body.source_queries(configured)
    rag = body.rag_config
    return RequestContext(
        documents=documents,
        include_full_content=body.attachment_config.include_full_content if body.attachment_config else True,
        sources=queries,
        strategy=rag.retrieval_strategy if rag else "merge",
        max_total=rag.max_total_results if rag else 10,
        multi_source=backends.multi_source_search() if queries else None,
        embeddings=backends.embeddings(),
        attachments=backends.attachments_container() if "attachment" in kinds else None,
        documents_root=settings.sources.documents_root,
    )
