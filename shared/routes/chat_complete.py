"""Multi-source RAG chat: POST /api/v1/chat/complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.http import turns
from shared.http.endpoints import Answer, ApiFamily, Call, api

if TYPE_CHECKING:
    from shared.wire.chat_complete import ChatCompleteRequest

FAMILY = ApiFamily.MULTI_SOURCE


@api.operation(
    "POST",
    "v1/chat/complete",
    "Multi-source RAG chat",
    FAMILY,
    body="chat_complete.ChatCompleteRequest",
    response="chat_complete.ChatCompleteResponse",
    errors=(400, 404, 422, 500, 503),
)
async def chat_complete(call: Call[ChatCompleteRequest]) -> Answer:
    """RAG chat over named sources (merge, sequential or ensemble), attachments and documents."""
    from shared.families.chat_complete import ChatCompleteTurn

    return await turns.answer(ChatCompleteTurn.of(call))
