"""GET /api/v2/sources/{source_id}: open a cited passage and its document, security-trimmed as search is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.http.endpoints import Answer, Call, api
from shared.routes.flexible import FAMILY

if TYPE_CHECKING:
    from shared.wire.sources import SourcePath, SourceQuery

WINDOW = 11  # passages of the document returned around the cited one (at most SEARCH_MAX_TOP_K)


@api.operation(
    "GET",
    "v2/sources/{source_id}",
    "A cited passage and its document, if the caller's search could return it",
    FAMILY,
    path="sources.SourcePath",
    query="sources.SourceQuery",
    response="sources.OpenedSourceOut",
    errors=(404, 422, 500, 503),
)
async def open_source(call: Call[None, SourceQuery, SourcePath]) -> Answer:
    """The passage with the text of its document around it; 404 when missing or hidden from the caller."""
    from shared.backends import retriever
    from shared.retrieval import citation
    from shared.wire import sources as wire

    source_id = call.path.source_id
    identity = call.principal(call.query.user_id).search_principal
    window = min(WINDOW, get_settings().search.max_top_k)
    found = await citation.open_source(retriever(), source_id, identity, window)
    if found is None:  # missing, or hidden from this caller: the same answer
        raise RequestError(f"no source {source_id!r} for this user", field="source_id", status=404)
    return wire.opened_source_out(found)
