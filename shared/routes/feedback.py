"""Feedback on an answer, kept with it in the caller's stored session (v2 sessions)."""

from __future__ import annotations

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.routes.common import endpoint, guarded, invalid, parse, principal

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())

MAX_INDEX = 1_000_000


@blueprint.route(route="v2/sessions/{session_id}/messages/{index}/feedback", methods=["POST"])
@endpoint
async def message_feedback(req: Request) -> JSONResponse:
    """Thumbs up or down, with an optional comment, on an assistant message of the caller's session."""
    from shared.backends import history_store
    from shared.wire import feedback as wire
    from shared.wire import v2

    query = await parse(req, v2.SessionQuery, "query")
    if isinstance(query, JSONResponse):
        return query
    index = req.path_params["index"]
    if not (index.isdigit() and int(index) <= MAX_INDEX):
        return invalid(["path", "index"], f"an integer from 0 to {MAX_INDEX}", "int_parsing")
    body = await parse(req, wire.FeedbackRequest)
    if isinstance(body, JSONResponse):
        return body
    session_id = req.path_params["session_id"]
    owner = principal(req, query.user_id).session_owner("v2", session_id)

    async def store() -> wire.FeedbackResponse:
        feedback = body.feedback()
        if not await history_store().set_feedback(owner, session_id, int(index), feedback):
            raise RequestError(f"no message {index} in session {session_id!r} for this user", status=404)
        return wire.FeedbackResponse(session_id=session_id, index=int(index), feedback=wire.feedback_out(feedback))

    return await guarded(req, store)
