"""Wire shapes of the session chat (a chat completion trigger: sessionId, prompt, context): POST /api/v1/chat.

The client sends a session id, the question (`prompt`) and an optional `context` (a product
id, a file name, ...); the history lives server-side under the session id.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.core.types import TurnResult
from shared.wire.citations import Citation, citation
from shared.wire.common import SESSION_ID_PATTERN, ErrorOut, StrictModel, errors_out


class SessionChatRequest(StrictModel):
    sessionId: str = Field(pattern=SESSION_ID_PATTERN, description="Chosen by the client; a new id starts afresh.")
    prompt: str = Field(min_length=1, max_length=20_000, description="The user's question.")
    context: str | None = Field(
        None, max_length=2_000, description="Narrows retrieval (AGENTS_CONTEXT_FILTER) and reaches the templates."
    )


class SessionChatResponse(BaseModel):
    sessionId: str
    answer: str
    citations: list[Citation] = Field(description="Entry n is what the answer's [n] refers to.")
    context: str | None
    conversation_length: int = Field(description="Messages in the session, this turn's included.")
    errors: list[ErrorOut] = Field(description="Upstream failures; the answer is then a safe fallback.")

    @classmethod
    def of(cls, request: SessionChatRequest, result: TurnResult) -> SessionChatResponse:
        return cls(
            sessionId=request.sessionId,
            answer=result.answer,
            citations=[citation(i, s) for i, s in enumerate(result.sources, start=1)],
            context=request.context,
            conversation_length=len(result.history),
            errors=errors_out(result.errors),
        )
