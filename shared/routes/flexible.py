"""Flexible chat and RAG (/api/v2/flexible-*): templates, model and retrieval per request,
with and without images; the configured models.

Wire models and the core are imported inside the handlers: importing function_app
(the host's cold start) then pays only for the declarations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.config import get_settings
from shared.http import turns
from shared.http.endpoints import Answer, ApiFamily, Call, api

if TYPE_CHECKING:
    from shared.families.flexible import FlavorName
    from shared.wire.flexible_requests import (
        FlexibleChatMultimodalRequest,
        FlexibleChatRequest,
        FlexibleRagMultimodalRequest,
        FlexibleRagRequest,
    )
    from shared.wire.model_catalog import ModelsQuery

FAMILY = ApiFamily.FLEXIBLE
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
async def flexible_chat(call: Call[FlexibleChatRequest]) -> Answer:
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
async def flexible_chat_mm(call: Call[FlexibleChatMultimodalRequest]) -> Answer:
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
async def flexible_rag(call: Call[FlexibleRagRequest]) -> Answer:
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
async def flexible_rag_mm(call: Call[FlexibleRagMultimodalRequest]) -> Answer:
    return await _turn(call, "rag-mm")


async def _turn(call: Call[FlexibleChatRequest], flavor: FlavorName) -> Answer:
    from shared.families.flexible import FlexibleTurn

    return await turns.answer(FlexibleTurn.of(call, flavor))


@api.operation(
    "GET",
    "v2/models",
    "The configured models",
    FAMILY,
    query="model_catalog.ModelsQuery",
    response="model_catalog.ModelsResponse",
    errors=(422, 500),
)
async def models(call: Call[None, ModelsQuery]) -> Answer:
    """Every model alias, with configuration checks (validate) and one cheap call each (deep)."""
    from shared.llm import catalog
    from shared.wire import model_catalog as wire

    query, settings = call.query, get_settings().model
    statuses = await catalog.checked(
        settings, validate=query.validate_, deep=query.deep, healthy_only=query.filter_unhealthy
    )
    return wire.models_response(settings.default_alias, statuses, validated=query.validate_)
