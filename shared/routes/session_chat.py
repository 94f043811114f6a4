"""Session chat, POST /api/v1/chat: {sessionId, prompt, context}; the conversation is kept server-side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.http import turns
from shared.http.endpoints import Answer, ApiFamily, Call, api

if TYPE_CHECKING:
    from shared.wire.session_chat import SessionChatRequest

FAMILY = ApiFamily.SESSION_CHAT


@api.operation(
    "POST",
    "v1/chat",
    "Session chat",
    FAMILY,
    body="session_chat.SessionChatRequest",
    response="session_chat.SessionChatResponse",
)
async def session_chat(call: Call[SessionChatRequest]) -> Answer:
    """One turn of a conversation kept server-side by sessionId; `context` narrows retrieval."""
    from shared.families.session_chat import SessionChatTurn

    return await turns.answer(SessionChatTurn.of(call))
