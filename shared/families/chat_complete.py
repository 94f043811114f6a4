"""The multi-source chat's mapping (shared.http.turns.TurnMapping): the caller's search principal
and whose conversation conversation_id names; the response with its search metadata; and the
family's rule for a failed turn: a failed generation is a 500 with a structured body, a failed
backend a 503. It does not stream."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.core.types import GenerationParams, Message, PromptSpec, RetrievalSpec, TurnRequest
from shared.identity import Principal, SessionFamily
from shared.wire.chat_complete import ChatCompleteRequest, ChatCompleteResponse, chat_complete_response

if TYPE_CHECKING:
    from shared.core.types import TurnResult
    from shared.http.endpoints import Call


@dataclass(frozen=True)
class ChatCompleteTurn:
    body: ChatCompleteRequest
    caller: Principal
    started: float  # perf_counter: total_time_ms counts from here
    headers: dict[str, str]

    @classmethod
    def of(cls, call: Call[ChatCompleteRequest]) -> ChatCompleteTurn:
        return cls(call.body, call.principal(), time.perf_counter(), {})

    def turn_request(self) -> TurnRequest:
        body, conversation = self.body, self.body.conversation_id
        return TurnRequest(
            question=body.query,
            history=tuple(Message(m.role, m.content) for m in body.history),
            retrieval=RetrievalSpec(enabled=body.context_mode != "none", plan=body.source_plan()),
            prompt=PromptSpec(variables={"instructions": body.system_prompt} if body.system_prompt else {}),
            generation=GenerationParams(alias=body.llm_model, temperature=body.temperature, max_tokens=body.max_tokens),
            user_id=self.caller.search_principal,
            session_id=conversation,
            session_owner=self.caller.session_owner(SessionFamily.MULTI_SOURCE, conversation) if conversation else None,
        )

    def response(self, result: TurnResult) -> ChatCompleteResponse:
        """The response; RequestError 500 (generation) or 503 (a backend) when the turn failed."""
        from shared.backends import data_sources

        if result.errors:
            error = result.errors[0]
            status = 500 if error.stage == "generation" else 503
            raise RequestError(error.message, status=status, code=error.code, stage=error.stage)
        settings = get_settings()
        return chat_complete_response(
            self.body,
            result,
            embedding_model=settings.embeddings.model_name,
            source_backends={name: source.backend for name, source in data_sources().items()},
            hybrid_vector_weight=settings.search.vector_weight,
            total_ms=(time.perf_counter() - self.started) * 1000,
        )
