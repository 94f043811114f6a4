"""The flexible chat's stored sessions (/api/v2/sessions): list, read, delete, feedback on an
answer; who reaches which is shared.families.sessions'."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.http.endpoints import Answer, Call, api
from shared.routes.flexible import FAMILY

if TYPE_CHECKING:
    from shared.wire.feedback import FeedbackPath, FeedbackRequest
    from shared.wire.sessions import SessionPath, SessionQuery, SessionsQuery

ONE_SESSION_ERRORS = (404, 422, 500, 503)


@api.operation(
    "GET",
    "v2/sessions",
    "The caller's sessions, newest first",
    FAMILY,
    query="sessions.SessionsQuery",
    response="sessions.SessionsPage",
)
async def list_sessions(call: Call[None, SessionsQuery]) -> Answer:
    """The caller's sessions, most recently active first, a page at a time; 403 without an identity."""
    from shared.families import sessions

    return await sessions.page(call)


@api.operation(
    "GET",
    "v2/sessions/{session_id}",
    "One session with its messages",
    FAMILY,
    path="sessions.SessionPath",
    query="sessions.SessionQuery",
    response="sessions.SessionHistory",
    errors=ONE_SESSION_ERRORS,
)
async def session_get(call: Call[None, SessionQuery, SessionPath]) -> Answer:
    from shared.families import sessions

    return await sessions.history(call)


@api.operation(
    "DELETE",
    "v2/sessions/{session_id}",
    "Delete a session and all its items",
    FAMILY,
    path="sessions.SessionPath",
    query="sessions.SessionQuery",
    status=204,
    errors=ONE_SESSION_ERRORS,
)
async def session_delete(call: Call[None, SessionQuery, SessionPath]) -> Answer:
    from shared.families import sessions

    await sessions.delete(call)
    return None


@api.operation(
    "POST",
    "v2/sessions/{session_id}/messages/{index}/feedback",
    "Thumbs up or down on an answer of the caller's session",
    FAMILY,
    path="feedback.FeedbackPath",
    query="sessions.SessionQuery",
    body="feedback.FeedbackRequest",
    response="feedback.FeedbackResponse",
    errors=(400, 404, 422, 500, 503),
)
async def message_feedback(call: Call[FeedbackRequest, SessionQuery, FeedbackPath]) -> Answer:
    """Thumbs up or down, with an optional comment, kept with the answer in the stored session."""
    from shared.families import sessions

    return await sessions.feedback(call)
