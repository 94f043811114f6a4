"""The flexible chat's stored sessions (/api/v2/sessions): list, read, delete, feedback on an answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.core.errors import RequestError
from shared.http.endpoints import Answer, Call, api
from shared.identity import SessionFamily
from shared.routes.flexible import FAMILY

if TYPE_CHECKING:
    from shared.wire.feedback import FeedbackPath, FeedbackRequest
    from shared.wire.sessions import SessionPath, SessionQuery, SessionsQuery

NO_IDENTITY = (
    "listing sessions needs an identity: a validated bearer token (AUTH_TOKEN_VALIDATION), or a user_id "
    "from a trusted backend (AUTH_TRUST_ASSERTED_USERS); without one, open a session by its id"
)
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
    from shared.backends import history_store
    from shared.wire import sessions as wire

    identity = call.principal(call.query.user_id).identity
    if identity is None:
        # Without an identity there is no one whose sessions these would be: listing would show
        # every anonymous caller's conversations, and an empty page would claim there are none.
        raise RequestError(NO_IDENTITY, status=403, code="identity_required")
    page = await history_store().list_sessions(identity, call.query.page_size, call.query.continuation)
    return wire.sessions_page(page)


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
    from shared.backends import history_store
    from shared.wire import sessions as wire

    session_id = call.path.session_id
    stored = await history_store().load(_owner(call), session_id, None)
    if not stored.messages:
        raise _missing(session_id)
    return wire.session_history(session_id, stored.messages)


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
    from shared.backends import history_store

    session_id = call.path.session_id
    if not await history_store().delete(_owner(call), session_id):
        raise _missing(session_id)
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
    from shared.backends import history_store
    from shared.wire import feedback as wire

    session_id, index = call.path.session_id, call.path.index
    feedback = call.body.feedback()
    if not await history_store().set_feedback(_owner(call), session_id, index, feedback):
        raise RequestError(f"no message {index} in session {session_id!r} for this user", status=404)
    return wire.FeedbackResponse(session_id=session_id, index=index, feedback=wire.feedback_out(feedback))


def _owner(call: Call[Any, SessionQuery, SessionPath | FeedbackPath]) -> str:
    """Whose stored conversation the path's session is, for the caller (shared.identity)."""
    return call.principal(call.query.user_id).session_owner(SessionFamily.V2, call.path.session_id)


def _missing(session_id: str) -> RequestError:
    return RequestError(f"no session {session_id!r} for this user", field="session_id", status=404)
