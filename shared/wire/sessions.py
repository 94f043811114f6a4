"""The v2 sessions: GET /api/v2/sessions (a page of the caller's sessions) and
GET /api/v2/sessions/{session_id} (one with its messages)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.core.types import Message, SessionPage
from shared.wire.common import QueryModel
from shared.wire.flexible_responses import ChatMessageOut, message_out


class SessionsQuery(QueryModel):
    user_id: str | None = Field(None, min_length=1, max_length=256, description="Whose sessions (no tokens).")
    page_size: int = Field(20, ge=1, le=100)
    continuation: str | None = Field(None, max_length=4096, description="From the previous page's response.")


class SessionPath(BaseModel):
    session_id: str


class SessionQuery(QueryModel):
    user_id: str | None = Field(None, min_length=1, max_length=256, description="Whose session (no tokens).")


class SessionOut(BaseModel):
    session_id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int


class SessionsPage(BaseModel):
    sessions: list[SessionOut]
    continuation: str | None = Field(description="Pass as ?continuation= for the next page; null on the last.")


class SessionHistory(BaseModel):
    session_id: str
    messages: list[ChatMessageOut]


def sessions_page(page: SessionPage) -> SessionsPage:
    return SessionsPage(sessions=[SessionOut(**s.__dict__) for s in page.sessions], continuation=page.continuation)


def session_history(session_id: str, messages: tuple[Message, ...]) -> SessionHistory:
    return SessionHistory(session_id=session_id, messages=[message_out(m) for m in messages])
