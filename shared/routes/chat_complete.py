"""Multi-source RAG chat: POST /api/v1/chat/complete."""

from __future__ import annotations

import time

from shared.config import get_settings
from shared.http.endpoints import Answer, Call, api
from shared.http.errors import HttpError

FAMILY = "Multi-source chat"


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
    result = await orchestrator().answer(body.turn_request(call.principal()))
    if result.errors:
        # The multi-source contract: a generation failure is a 500 with a structured body; a failed backend a 503.
        error = result.errors[0]
        status = 500 if error.stage == "generation" else 503
        raise HttpError(status, error.message, code=error.code, stage=error.stage)

    response = wire.chat_complete_response(
        body,
        result,
        embedding_model=get_settings().embeddings.model_name,
        source_backends={name: source.backend for name, source in data_sources().items()},
        hybrid_vector_weight=get_settings().search.vector_weight,
        total_ms=(time.perf_counter() - started) * 1000,
    )
    return response
