"""GET /api/v2/sources/{source_id}: open a cited passage and its document, security-trimmed as search is."""

from __future__ import annotations

import re

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.routes.common import endpoint, guarded, invalid, parse, principal

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())

WINDOW = 11  # passages of the document returned around the cited one (at most SEARCH_MAX_TOP_K)


@blueprint.route(route="v2/sources/{source_id}", methods=["GET"])
@endpoint
async def open_source(req: Request) -> JSONResponse:
    """A passage the caller's search could return, with the text of its document around it; else 404."""
    from shared.backends import retriever
    from shared.retrieval import citation
    from shared.wire import sources as wire

    query = await parse(req, wire.SourceQuery, "query")
    if isinstance(query, JSONResponse):
        return query
    source_id = req.path_params["source_id"]
    if not re.fullmatch(wire.SOURCE_ID_PATTERN, source_id):
        return invalid(["path", "source_id"], "not a passage id", "string_pattern_mismatch")
    identity = principal(req, query.user_id).search_principal
    window = min(WINDOW, get_settings().search.max_top_k)

    async def opened() -> wire.OpenedSourceOut:
        found = await citation.open_source(retriever(), source_id, identity, window)
        if found is None:  # missing, or hidden from this caller: the same answer
            raise RequestError(f"no source {source_id!r} for this user", field="source_id", status=404)
        return wire.opened_source_out(found)

    return await guarded(req, opened)
