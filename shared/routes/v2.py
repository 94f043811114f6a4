"""The v2 API family (seed 001): flexible chat and RAG.

Wire models and the core are imported inside the handlers: importing function_app
(the host's cold start) then pays only for registering the routes.
"""

from __future__ import annotations

import time

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request

from shared.config import get_settings
from shared.routes.common import caller_id, respond

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())


@blueprint.route(route="v2/flexible-rag", methods=["POST"])
async def flexible_rag(req: Request) -> JSONResponse:
    from shared.backends import orchestrator
    from shared.wire import v2 as wire

    async def answer(body: wire.FlexibleRagRequest) -> wire.FlexibleRagResponse:
        user_id = caller_id(body.ab_testing.user_id if body.ab_testing else None)
        started = time.perf_counter()
        result = await orchestrator().answer(wire.turn_request(body, user_id))
        return wire.flexible_rag_response(body, result, time.perf_counter() - started)

    return await respond(req, wire.FlexibleRagRequest, answer)
