"""The Responses API's mapping (shared.http.turns.TurnMapping): which agent and model answer,
the stored conversation `previous_response_id` continues (and whose it is), the model's
tools; the response object, the typed stream events, and a failed turn as a 503.

A stored response keeps its exchange in a conversation whose id its response id carries;
tool round trips are not stored (the client keeps them)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shared import agents
from shared.agent_definitions import Agent
from shared.config import get_settings
from shared.core.errors import RequestError, UpstreamError
from shared.families.openai_chat import check_tools_supported
from shared.identity import Principal, SessionFamily
from shared.wire import openai_responses as wire
from shared.wire.openai_protocol import ClientTurn, client_turn
from shared.wire.openai_responses_events import ResponseEvents
from shared.wire.openai_responses_events import stream_error as responses_stream_error

if TYPE_CHECKING:
    from shared.core.events import TurnEvent
    from shared.core.types import TurnRequest, TurnResult
    from shared.http.endpoints import Call

SESSIONS = SessionFamily.OPENAI  # conversations are owned as the chat completions' sessions are


@dataclass(frozen=True)
class ResponsesTurn:
    body: wire.ResponsesRequest
    agent: Agent
    alias: str  # the model answering
    caller: Principal
    conversation: ClientTurn
    response_id: str  # in the conversation it continues, or in a new one
    session_id: str | None  # the stored conversation, None when this exchange is not stored
    created_at: int

    @classmethod
    def of(cls, call: Call[wire.ResponsesRequest]) -> ResponsesTurn:
        """RequestError (404) for an unknown model; (400) for a conversation the core cannot answer,
        or a previous_response_id with no stored conversation to continue."""
        body = call.body
        agent = agents.resolve(body.model or get_settings().model.default_alias, field="model")
        conversation = client_turn(body.messages(), "input")
        stored = body.store and not body.tools and not conversation.after_question
        previous = body.previous_response_id
        if previous and not stored:
            raise RequestError(
                "previous_response_id continues a stored conversation: send it with store true, and without "
                "tools or tool results (keep a tool round trip on the client and send all of it)",
                field="previous_response_id",
            )
        response_id = wire.new_response_id(wire.conversation_of(previous) if previous else None)
        session_id = wire.conversation_of(response_id) if stored else None
        caller = call.principal(body.user)
        alias = agents.model_alias(agent)
        return cls(body, agent, alias, caller, conversation, response_id, session_id, int(time.time()))

    @property
    def streams(self) -> bool:
        return self.body.stream

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def turn_request(self) -> TurnRequest:
        """The core's turn; RequestError (400) for tools the model or the request cannot take."""
        body, conversation, session_id = self.body, self.conversation, self.session_id
        continues = body.previous_response_id is not None
        instructions = "\n\n".join(i for i in (body.instructions, conversation.instructions) if i)
        turn = agents.agent_turn(
            self.agent,
            conversation.question,
            conversation.history,
            user_id=self.caller.search_principal,
            session_id=session_id,
            session_owner=self.caller.session_owner(SESSIONS, session_id) if session_id else None,
            session_must_exist=continues,
            alias=self.alias,
            parameters=body.generation(),
            instructions=instructions or None,
        )
        check_tools_supported(self.alias, turn.generation, sessions=continues)
        return replace(turn, after_question=conversation.after_question)

    def response(self, result: TurnResult) -> wire.ResponseObject:
        """The response object; UpstreamError (503) when the turn could not answer."""
        if result.errors:
            raise UpstreamError(result.errors[0].code, result.errors[0].message)
        return wire.response_object(self.body, self.response_id, self.alias, result, created_at=self.created_at)

    def frames(self, events: AsyncIterator[TurnEvent]) -> AsyncIterator[str]:
        return ResponseEvents(self.body, self.response_id, self.alias, self.created_at).frames(events)

    def stream_error(self, status: int, error: dict[str, Any]) -> str:
        return responses_stream_error(status, error)
