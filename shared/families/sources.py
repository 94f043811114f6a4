"""Opening a cited passage (/api/v2/sources/{id}) as the caller's search could return it: the
same security trimming, so a passage hidden from the caller is a 404, as a missing one is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import backends
from shared.config import get_settings
from shared.core.errors import RequestError
from shared.wire import sources as wire

if TYPE_CHECKING:
    from shared.http.endpoints import Call

WINDOW = 11  # passages of the document returned around the cited one (at most SEARCH_MAX_TOP_K)


async def opened(call: Call[None, wire.SourceQuery, wire.SourcePath]) -> wire.OpenedSourceOut:
    """The passage with the text of its document around it; 404 when missing or hidden from the caller."""
    return await open_cited(call.path.source_id, call.principal(call.query.user_id).search_principal)


async def open_cited(source_id: str, search_principal: str) -> wire.OpenedSourceOut:
    """The passage `source_id`, if a search by `search_principal` could return it (the MCP tool
    get_source too); RequestError 404 otherwise."""
    from shared.retrieval import citation

    window = min(WINDOW, get_settings().search.max_top_k)
    found = await citation.open_source(backends.retriever(), source_id, search_principal, window)
    if found is None:  # missing, or hidden from this caller: the same answer
        raise RequestError(f"no source {source_id!r} for this user", field="source_id", status=404)
    return wire.opened_source_out(found)
