"""Sources as numbered citations: entry n is what the answer's [n] refers to."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.core.types import Source
from shared.text import shortened
from shared.wire.sources import source_link

SNIPPET_CHARS = 300


class Citation(BaseModel):
    index: int = Field(description="The n of [n] in the answer.")
    id: str
    title: str | None
    filename: str | None
    page: int | None = Field(None, description="The PDF page the passage is on; null for other files.")
    section: str | None = Field(None, description="The heading the passage sits under, where the document has them.")
    score: float
    snippet: str
    url: str = Field(description="GET it to open the passage and its document (GET /api/v2/sources/{id}).")


def citation(index: int, source: Source) -> Citation:
    return Citation(
        index=index,
        id=source.id,
        title=source.fields.get("title"),
        filename=source.fields.get("filename"),
        page=source.fields.get("page"),
        section=source.fields.get("section"),
        score=source.score,
        snippet=shortened(source.text, SNIPPET_CHARS),
        url=source_link(source.id),
    )
