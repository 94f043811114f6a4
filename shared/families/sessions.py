"""The flexible chat's stored sessions (/api/v2/sessions), as the caller reaches them: listing
needs an identity; one session is reached through the owner shared.identity derives for the
caller (SessionFamily.V2), so another caller's is a 404, as a missing one is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import backends
from shared.core.errors import RequestError
from shared.identity import SessionFamily
from shared.wire import feedback as feedback_wire
from shared.wire import sessions as wire

if TYPE_CHECKING:
    from shared.http.endpoints import Call

NO_IDENTITY = (
    "listing sessions needs an identity: a validated bearer token (AUTH_TOKEN_VALIDATION), or a user_id "
    "from a trusted backend (AUTH_TRUST_ASSERTED_USERS); without one, open a session by its id"
)


async def page(call: Call[None, wire.SessionsQuery]) -> wire.SessionsPage:
    """The caller's sessions, most recently active first; 403 without an identity."""
    identity = call.principal(call.query.user_id).identity
    if identity is None:
        # Without an identity there is no one whose sessions these would be: listing would show
        # every anonymous caller's conversations, and an empty page would claim there are none.
        raise RequestError(NO_IDENTITY, status=403, code="identity_required")
    return wire.sessions_page(
        await backends.history_store().list_sessions(identity, call.query.page_size, call.query.continuation)
    )


async def history(call: Call[None, wire.SessionQuery, wire.SessionPath]) -> wire.SessionHistory:
    session_id = call.path.session_id
    stored = await backends.history_store().load(_owner(call), session_id, None)
    if not stored.messages:
        raise _missing(session_id)
    return wire.session_history(session_id, stored.messages)


async def delete(call: Call[None, wire.SessionQuery, wire.SessionPath]) -> None:
    session_id = call.path.session_id
    if not await backends.history_store().delete(_owner(call), session_id):
        raise _missing(session_id)


async def feedback(
    call: Call[feedback_wire.FeedbackRequest, wire.SessionQuery, feedback_wire.FeedbackPath],
) -> feedback_wire.FeedbackResponse:
    """Thumbs up or down, with an optional comment, kept with the answer in the stored session."""
    session_id, index = call.path.session_id, call.path.index
    given = call.body.feedback()
    if not await backends.history_store().set_feedback(_owner(call), session_id, index, given):
        raise RequestError(f"no message {index} in session {session_id!r} for this user", status=404)
    return feedback_wire.FeedbackResponse(
        session_id=session_id, index=index, feedback=feedback_wire.feedback_out(given)
    )


def _owner(call: Call[Any, wire.SessionQuery, wire.SessionPath | feedback_wire.FeedbackPath]) -> str:
    """Whose stored conversation the path's session is, for the caller (shared.identity)."""
    return call.principal(call.query.user_id).session_owner(SessionFamily.V2, call.path.session_id)


def _missing(session_id: str) -> RequestError:
    return RequestError(f"no session {session_id!r} for this user", field="session_id", status=404)
