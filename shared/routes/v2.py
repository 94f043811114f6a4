"""The v2 API family: flexible chat and RAG, with and without images; sessions; models.

Wire models and the core are imported inside the handlers: importing function_app
(the host's cold start) then pays only for registering the routes.
"""

from __future__ import annotations

import asyncio
import time

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.routes.common import (
    endpoint,
    error_response,
    guarded,
    parse,
    principal,
    refusal,
    respond,
    stream_events,
    wants_stream,
)

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())

NO_IDENTITY = (
    "listing sessions needs an identity: a validated bearer token (AUTH_TOKEN_VALIDATION), or a user_id "
    "from a trusted backend (AUTH_TRUST_ASSERTED_USERS); without one, open a session by its id"
)


@blueprint.route(route="v2/flexible-chat", methods=["POST"])
@endpoint
async def flexible_chat(req: Request) -> Response:
    """Multi-turn chat: history from the request and/or the session; follow-ups searched as standalone queries."""
    return await _flexible_turn(req, "chat")


@blueprint.route(route="v2/flexible-chat-mm", methods=["POST"])
@endpoint
async def flexible_chat_mm(req: Request) -> Response:
    """Multi-turn chat with images (metadata.images) on the latest turn."""
    return await _flexible_turn(req, "chat-mm")


@blueprint.route(route="v2/flexible-rag", methods=["POST"])
@endpoint
async def flexible_rag(req: Request) -> Response:
    """Single-turn question answering over the knowledge base (skip_knowledge_base to answer directly)."""
    return await _flexible_turn(req, "rag")


@blueprint.route(route="v2/flexible-rag-mm", methods=["POST"])
@endpoint
async def flexible_rag_mm(req: Request) -> Response:
    """Single-turn question answering with images."""
    return await _flexible_turn(req, "rag-mm")


async def _flexible_turn(req: Request, name: str) -> Response:
    from shared.backends import orchestrator
    from shared.wire import v2 as wire

    flavor = wire.FLAVORS[name]
    body = await parse(req, flavor.request)
    if isinstance(body, JSONResponse):
        return body
    who = principal(req, body.ab_testing.user_id if body.ab_testing else None)
    try:
        images = body.images() if flavor.multimodal else ()
    except RequestError as exc:
        return refusal(req, exc)
    experiment = body.ab_testing.experiment_name if body.ab_testing else None
    variant = get_settings().experiments.variant(experiment, who.experiment_key)
    session_id = body.ab_testing.session_id if body.ab_testing else None
    owner = who.session_owner("v2", session_id) if session_id else None
    call = wire.FlexibleCall(flavor, body, who.search_principal, variant, images, owner)
    turn = call.turn_request()
    started = time.perf_counter()
    if wants_stream(req, body.stream):
        events = orchestrator().run(turn, stream=True)
        return await stream_events(req, call.events(events, started), wire.STREAM_FAILURE)

    async def answer() -> wire.FlexibleChatResponse:
        result = await orchestrator().answer(turn)
        return call.response(result, time.perf_counter() - started)

    return await guarded(req, answer)


@blueprint.route(route="v2/sessions", methods=["GET"])
@endpoint
async def list_sessions(req: Request) -> JSONResponse:
    """The caller's sessions, most recently active first, a page at a time; 403 without an identity."""
    from shared.backends import history_store
    from shared.wire import v2 as wire

    query = await parse(req, wire.SessionsQuery, "query")
    if isinstance(query, JSONResponse):
        return query
    identity = principal(req, query.user_id).identity
    if identity is None:
        # Without an identity there is no one whose sessions these would be: listing would show
        # every anonymous caller's conversations, and an empty page would claim there are none.
        return error_response(403, NO_IDENTITY, code="identity_required")

    async def page() -> wire.SessionsPage:
        return wire.sessions_page(await history_store().list_sessions(identity, query.page_size, query.continuation))

    return await guarded(req, page)


@blueprint.route(route="v2/sessions/{session_id}", methods=["GET", "DELETE"])
@endpoint
async def session(req: Request) -> Response:
    """GET: one of the caller's sessions with all its messages. DELETE: remove it and all its items."""
    from shared.backends import history_store
    from shared.wire import v2 as wire

    query = await parse(req, wire.SessionQuery, "query")
    if isinstance(query, JSONResponse):
        return query
    session_id = req.path_params["session_id"]
    owner = principal(req, query.user_id).session_owner("v2", session_id)
    missing = RequestError(f"no session {session_id!r} for this user", field="session_id", status=404)
    if req.method == "DELETE":
        try:
            deleted = await history_store().delete(owner, session_id)
        except Exception as exc:  # noqa: BLE001 - every failure gets a safe answer
            return refusal(req, exc)
        return Response(status_code=204) if deleted else refusal(req, missing)

    async def read() -> wire.SessionHistory:
        stored = await history_store().load(owner, session_id, None)
        if not stored.messages:
            raise missing
        return wire.session_history(session_id, stored.messages)

    return await guarded(req, read)


@blueprint.route(route="v2/models", methods=["GET"])
@endpoint
async def models(req: Request) -> JSONResponse:
    from shared.llm import catalog
    from shared.wire import v2 as wire

    async def describe(query: wire.ModelsQuery) -> wire.ModelsResponse:
        settings = get_settings().model
        statuses = catalog.catalog(settings)
        if query.validate_:
            for status in statuses:
                catalog.validate(status, settings)
            if query.deep:
                await asyncio.gather(*(catalog.deep_check(s) for s in statuses if s.healthy))
            if query.filter_unhealthy:
                statuses = [s for s in statuses if s.healthy]
        return wire.ModelsResponse(
            default=settings.default_alias,
            models=[
                wire.ModelEntry(
                    **status.info.__dict__,
                    default=status.default,
                    validation=wire.ModelValidation(
                        healthy=status.healthy, checks=status.checks, problems=status.problems
                    )
                    if query.validate_
                    else None,
                )
                for status in statuses
            ],
        )

    return await respond(req, wire.ModelsQuery, describe, source="query")
