"""GET /api/v2/sources/{source_id}: a cited passage with its document, as the caller may see it."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import BaseModel, Field

from shared.retrieval.citation import OpenedSource
from shared.wire.common import QueryModel

SOURCE_ID_PATTERN = r"^[A-Za-z0-9_=-][A-Za-z0-9_=.-]{0,255}$"  # an index key, as Azure AI Search allows


def source_link(source_id: str) -> str:
    """Where a client opens a cited passage: v2 sources and OpenAI-compatible citations carry it."""
    return f"/api/v2/sources/{quote(source_id, safe='')}"


class SourcePath(BaseModel):
    source_id: str = Field(pattern=SOURCE_ID_PATTERN, description="A passage id, as a source's `link` names it.")


class SourceQuery(QueryModel):
    user_id: str | None = Field(
        None, min_length=1, max_length=256, description="Whose documents (a trusted backend, without tokens)."
    )


class PassageSpan(BaseModel):
    id: str
    chunk_index: int
    page: int | None = Field(description="The PDF page the passage is on; null for other files.")
    start: int = Field(description="Where the passage starts in document.text (characters).")
    end: int = Field(description="Where it ends (exclusive).")


class SourceDocument(BaseModel):
    filename: str
    title: str | None
    text: str = Field(description="The document's passages around the cited one, overlaps merged.")
    passages: list[PassageSpan]
    first_chunk_index: int
    last_chunk_index: int


class OpenedSourceOut(BaseModel):
    id: str
    index_name: str
    title: str | None
    filename: str
    page: int | None
    section: str | None = Field(None, description="The heading the passage sits under, where the document has them.")
    chunk_index: int
    category: str | None
    tags: list[str]
    text: str = Field(description="The cited passage.")
    highlight: PassageSpan = Field(description="The cited passage's place in document.text.")
    document: SourceDocument


def opened_source_out(opened: OpenedSource) -> OpenedSourceOut:
    fields = opened.source.fields
    spans = [PassageSpan(**span.__dict__) for span in opened.spans]
    return OpenedSourceOut(
        id=opened.source.id,
        index_name=opened.source.index_name,
        title=fields.get("title"),
        filename=fields["filename"],
        page=fields.get("page"),
        section=fields.get("section"),
        chunk_index=int(fields.get("chunk_index") or 0),
        category=fields.get("category"),
        tags=list(fields.get("tags") or ()),
        text=opened.source.text,
        highlight=PassageSpan(**opened.cited.__dict__),
        document=SourceDocument(
            filename=fields["filename"],
            title=fields.get("title"),
            text=opened.text,
            passages=spans,
            first_chunk_index=spans[0].chunk_index,
            last_chunk_index=spans[-1].chunk_index,
        ),
    )
