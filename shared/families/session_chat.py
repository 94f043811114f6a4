"""The session chat's mapping (shared.http.turns.TurnMapping): the session chat agent answers, in
the conversation the client's sessionId names (owned as shared.identity says), with retrieval
narrowed by `context` (AGENTS_CONTEXT_FILTER); a failed turn is a 200 with its errors. It
does not stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.agents import agent_turn, session_chat_agent
from shared.config import get_settings
from shared.identity import Principal, SessionFamily
from shared.wire.session_chat import SessionChatRequest, SessionChatResponse

if TYPE_CHECKING:
    from shared.core.types import TurnRequest, TurnResult
    from shared.http.endpoints import Call


@dataclass(frozen=True)
class SessionChatTurn:
    body: SessionChatRequest
    caller: Principal
    headers: dict[str, str]

    @classmethod
    def of(cls, call: Call[SessionChatRequest]) -> SessionChatTurn:
        return cls(call.body, call.principal(), {})

    def turn_request(self) -> TurnRequest:
        body, context_filter = self.body, get_settings().agents.context_filter
        extra_filter = None
        if body.context and context_filter:
            from shared.retrieval.odata import quote  # the value as one literal: it cannot end the string

            extra_filter = context_filter.replace("{context}", quote(body.context))
        return agent_turn(
            session_chat_agent(),
            body.prompt,
            user_id=self.caller.search_principal,
            session_id=body.sessionId,
            session_owner=self.caller.session_owner(SessionFamily.SESSION_CHAT, body.sessionId),
            extra_filter=extra_filter,
            variables={"context": body.context},
        )

    def response(self, result: TurnResult) -> SessionChatResponse:
        return SessionChatResponse.of(self.body, result)
