"""OpenAI's Responses API, POST /api/v1/responses: what client.responses.create, the OpenAI
Agents SDK and the Vercel AI SDK's default @ai-sdk/openai provider call. `model` names an
agent or a model alias, as on POST /api/v1/chat/completions; the same retrieval, prompt
and citations answer.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from shared import agents
from shared.config import get_settings
from shared.core.errors import RequestError, UpstreamError
from shared.http.endpoints import Answer, Call, EventStream, api
from shared.identity import ApiFamily  # noqa: I001
from shared.routes.openai_compat import CHAT_ERRORS, FAMILY

if TYPE_CHECKING:
    from shared.core.types import TurnRequest
    from shared.wire.openai_responses import ResponsesRequest

SESSIONS: ApiFamily = "openai-compatible"  # conversations are owned as the chat completions' sessions are


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
async def create_response(call: Call) -> Answer:
    """A model response to `input`, streamed as typed events with `stream: true`."""
    from shared.backends import orchestrator
    from shared.wire import openai_responses as wire
    from shared.wire.openai_responses_events import ResponseEvents, stream_error

    body = call.body
    turn, response_id, alias = _turn(call, body)
    if body.stream:
        events = ResponseEvents(body, response_id, alias, int(time.time()))
        return EventStream(events.frames(orchestrator().run(turn, stream=True)), stream_error)
    result = await orchestrator().answer(turn)
    if result.errors:
        raise UpstreamError(result.errors[0].code, result.errors[0].message)
    return wire.response_object(body, response_id, alias, result)


def _turn(call: Call, body: ResponsesRequest) -> tuple[TurnRequest, str, str]:
    """(the core's turn, this response's id, the model alias answering); RequestError when refused.

    A stored response keeps its exchange in a conversation whose id its response id carries;
    tool round trips are not stored (keep them on the client)."""
    from shared.agents import agent_turn
    from shared.wire import openai_responses as wire
    from shared.wire.openai_protocol import check_tools_supported, client_turn

    agent = agents.resolve(body.model or get_settings().model.default_alias, field="model")
    alias = agents.model_alias(agent)
    conversation = client_turn(body.messages(), "input")
    stored = body.store and not body.tools and not conversation.after_question
    previous = body.previous_response_id
    if previous and not stored:
        raise RequestError(
            "previous_response_id continues a stored conversation: send it with store true, and without "
            "tools or tool results (keep a tool round trip on the client and send all of it)",
            field="previous_response_id",
        )
    continued = wire.conversation_of(previous) if previous else None
    response_id = wire.new_response_id(continued)  # in the continued conversation, or a new one
    session_id = wire.conversation_of(response_id) if stored else None
    caller = call.principal(body.user)
    instructions = "\n\n".join(i for i in (body.instructions, conversation.instructions) if i)
    turn = agent_turn(
        agent,
        conversation.question,
        conversation.history,
        user_id=caller.search_principal,
        session_id=session_id,
        session_owner=caller.session_owner(SESSIONS, session_id) if session_id else None,
        session_must_exist=previous is not None,
        alias=alias,
        parameters=body.generation(),
        instructions=instructions or None,
    )
    check_tools_supported(alias, turn.generation, sessions=previous is not None)
    return replace(turn, after_question=conversation.after_question), response_id, alias
