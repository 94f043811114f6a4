"""The v2 API family (seed 001): flexible chat and RAG.

Wire models and the core are imported inside the handlers: importing function_app
(the host's cold start) then pays only for registering the routes.
"""

from __future__ import annotations

import asyncio
import time

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

from shared.config import get_settings
from shared.routes.common import caller_id, guarded, parse, respond, stream_events, wants_stream

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())


@blueprint.route(route="v2/flexible-rag", methods=["POST"])
async def flexible_rag(req: Request) -> Response:
    from shared.backends import orchestrator
    from shared.wire import v2 as wire

    body = await parse(req, wire.FlexibleRagRequest)
    if isinstance(body, JSONResponse):
        return body
    turn = wire.turn_request(body, caller_id(body.ab_testing.user_id if body.ab_testing else None))
    started = time.perf_counter()
    if wants_stream(req, body.stream):
        events = orchestrator().run(turn, stream=True)
        return await stream_events(req, wire.flexible_rag_events(body, events, started))

    async def answer() -> wire.FlexibleRagResponse:
        result = await orchestrator().answer(turn)
        return wire.flexible_rag_response(body, result, time.perf_counter() - started)

    return await guarded(req, answer)


@blueprint.route(route="v2/models", methods=["GET"])
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
                    supports_multimodal=status.supports_multimodal,
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
