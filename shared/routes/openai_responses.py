"""OpenAI's Responses API, POST /api/v1/responses: what client.responses.create, the OpenAI
Agents SDK and the Vercel AI SDK's default @ai-sdk/openai provider call. `model` names an
agent or a model alias, as on POST /api/v1/chat/completions; the same retrieval, prompt
and citations answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.http import turns
from shared.http.endpoints import Answer, Call, api
from shared.routes.openai_compat import CHAT_ERRORS, FAMILY

if TYPE_CHECKING:
    from shared.wire.openai_responses import ResponsesRequest


@api.operation(
    "POST",
    "v1/responses",
    "OpenAI Responses API: a response by agent id or model alias",
    FAMILY,
    body="openai_responses.ResponsesRequest",
    response="openai_responses.ResponseObject",
    streams=True,
    errors=CHAT_ERRORS,
)
async def create_response(call: Call[ResponsesRequest]) -> Answer:
    """A model response to `input`, streamed as typed events with `stream: true`."""
    from shared.families.openai_responses import ResponsesTurn

    return await turns.answer(ResponsesTurn.of(call))
