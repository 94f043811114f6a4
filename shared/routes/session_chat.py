"""Session chat, POST /api/v1/chat: {sessionId, prompt, context}; the conversation is kept server-side."""

from __future__ import annotations

from shared.agents import session_chat_agent
from shared.config import get_settings
from shared.http.endpoints import Answer, Call, api

FAMILY = "Session chat"


@api.operation(
    "POST",
    "v1/chat",
    "Session chat",
    FAMILY,
    body="session_chat.SessionChatRequest",
    response="session_chat.SessionChatResponse",
)
async def session_chat(call: Call) -> Answer:
    """One turn of a conversation kept server-side by sessionId; `context` narrows retrieval."""
    from shared.backends import orchestrator
    from shared.wire import session_chat as wire

    turn = call.body.turn_request(session_chat_agent(), call.principal(), get_settings().agents.context_filter)
    return wire.SessionChatResponse.of(call.body, await orchestrator().answer(turn))
