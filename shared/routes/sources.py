"""GET /api/v2/sources/{source_id}: open a cited passage and its document, security-trimmed as search is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.http.endpoints import Answer, Call, api
from shared.routes.flexible import FAMILY

if TYPE_CHECKING:
    from shared.wire.sources import SourcePath, SourceQuery


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
    from shared.families import sources

    return await sources.opened(call)
