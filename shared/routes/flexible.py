"""Flexible chat and RAG (/api/v2/flexible-*): templates, model and retrieval per request,
with and without images; the configured models.

Wire models and the core are imported inside the handlers: importing function_app
(the host's cold start) then pays only for the declarations.
"""

from __future__ import annotations

import asyncio
import time

from shared.config import get_settings
from shared.experiments import assigned_variant
from shared.http.endpoints import Answer, Call, EventStream, api

FAMILY = "Flexible chat and RAG"
WITH_IMAGES_ERRORS = (400, 413, 422, 500, 503)


@api.operation(
    "POST",
    "v2/flexible-chat",
    "Multi-turn chat with retrieval",
    FAMILY,
    body="flexible_requests.FlexibleChatRequest",
    response="flexible_responses.FlexibleChatResponse",
    streams=True,
)
async def flexible_chat(call: Call) -> Answer:
    """History from the request and/or the session; follow-ups searched as standalone queries."""
    return await _turn(call, "chat")


@api.operation(
    "POST",
    "v2/flexible-chat-mm",
    "Multi-turn chat with images",
    FAMILY,
    body="flexible_requests.FlexibleChatMultimodalRequest",
    response="flexible_responses.FlexibleChatMultimodalResponse",
    streams=True,
    errors=WITH_IMAGES_ERRORS,
)
async def flexible_chat_mm(call: Call) -> Answer:
    """Images (metadata.images) on the latest turn."""
    return await _turn(call, "chat-mm")


@api.operation(
    "POST",
    "v2/flexible-rag",
    "Single-turn question answering",
    FAMILY,
    body="flexible_requests.FlexibleRagRequest",
    response="flexible_responses.FlexibleRagResponse",
    streams=True,
)
async def flexible_rag(call: Call) -> Answer:
    """One question over the knowledge base (skip_knowledge_base to answer directly)."""
    return await _turn(call, "rag")


@api.operation(
    "POST",
    "v2/flexible-rag-mm",
    "Single-turn question answering with images",
    FAMILY,
    body="flexible_requests.FlexibleRagMultimodalRequest",
    response="flexible_responses.FlexibleRagMultimodalResponse",
    streams=True,
    errors=WITH_IMAGES_ERRORS,
)
async def flexible_rag_mm(call: Call) -> Answer:
    return await _turn(call, "rag-mm")


async def _turn(call: Call, name: str) -> Answer:
    from shared.backends import orchestrator
    from shared.wire import flexible_call as wire

    flavor, body = wire.FLAVORS[name], call.body
    who = call.principal(body.ab_testing.user_id if body.ab_testing else None)
    images = body.images() if flavor.multimodal else ()
    experiment = body.ab_testing.experiment_name if body.ab_testing else None
    variant = assigned_variant(experiment, who.experiment_key)
    session_id = body.ab_testing.session_id if body.ab_testing else None
    owner = who.session_owner("v2", session_id) if session_id else None
    flexible = wire.FlexibleCall(flavor, body, who.search_principal, variant, images, owner)
    turn = flexible.turn_request()
    started = time.perf_counter()
    if call.wants_stream(body.stream):
        events = orchestrator().run(turn, stream=True)
        return EventStream(flexible.events(events, started), wire.stream_error)
    result = await orchestrator().answer(turn)
    return flexible.response(result, time.perf_counter() - started)


@api.operation(
    "GET",
    "v2/models",
    "The configured models",
    FAMILY,
    query="model_catalog.ModelsQuery",
    response="model_catalog.ModelsResponse",
    errors=(422, 500),
)
async def models(call: Call) -> Answer:
    """Every model alias, with configuration checks (validate) and one cheap call each (deep)."""
    from shared.llm import catalog
    from shared.wire import model_catalog as wire

    query, settings = call.query, get_settings().model
    statuses = catalog.catalog(settings)
    if query.validate_:
        for status in statuses:
            catalog.validate(status, settings)
        if query.deep:
            await asyncio.gather(*(catalog.deep_check(s) for s in statuses if s.healthy))
        if query.filter_unhealthy:
            statuses = [s for s in statuses if s.healthy]
    return wire.models_response(settings.default_alias, statuses, validated=query.validate_)
