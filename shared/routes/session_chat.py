"""The session chat: POST /api/v1/chat with {sessionId, prompt, context}."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request

from shared.config import get_settings
from shared.routes.common import endpoint, principal, respond

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())


@blueprint.route(route="v1/chat", methods=["POST"])
@endpoint
async def session_chat(req: Request) -> JSONResponse:
    """One turn of a conversation kept server-side by sessionId; `context` narrows retrieval."""
    from shared.backends import orchestrator
    from shared.wire import session_chat as wire

    async def answer(body: wire.SessionChatRequest) -> wire.SessionChatResponse:
        agents = get_settings().agents
        turn = body.turn_request(agents.session_chat(), principal(req, None), agents.context_filter)
        return wire.SessionChatResponse.of(body, await orchestrator().answer(turn))

    return await respond(req, wire.SessionChatRequest, answer)
