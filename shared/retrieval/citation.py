"""Opening a cited passage: the passage and the text of its document around it.

Both reads are searches through the retriever, with the caller's identity, so the security
filter trims them exactly as it trims the search that cited the passage: a passage or a
document the caller's search would not return cannot be opened, and a hidden passage looks
the same as one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.core.interfaces import Retriever
from shared.core.types import RetrievalSpec, Source
from shared.retrieval import odata

# Fields a cited passage is read with (never the security field, which is not retrievable).
_FIELDS = ("id", "title", "filename", "chunk_index", "page", "section", "category", "tags", "text")
_PROBE = 24  # characters of a passage's start looked for in the previous one's end


@dataclass(frozen=True)
class Span:
    """One passage inside the document text: [start, end) in characters."""

    id: str
    chunk_index: int
    page: int | None
    start: int
    end: int


@dataclass(frozen=True)
class OpenedSource:
    source: Source
    text: str  # the document's passages around the cited one, their overlaps merged
    spans: tuple[Span, ...]
    cited: Span


async def open_source(retriever: Retriever, source_id: str, identity: str | None, window: int) -> OpenedSource | None:
    """The passage `source_id` and up to `window` passages of its document around it, as
    `identity` may see them; None when there is no such passage for this caller."""
    found = await _find(retriever, f"id eq {odata.quote(source_id)}", 1, identity)
    if not found:
        return None
    source = found[0]
    index = int(source.fields.get("chunk_index") or 0)
    first = max(0, index - window // 2)
    neighbours = await _find(
        retriever,
        f"filename eq {odata.quote(source.fields['filename'])} "
        f"and chunk_index ge {first} and chunk_index le {first + window - 1}",
        window,
        identity,
    )
    passages = sorted({s.id: s for s in (*neighbours, source)}.values(), key=lambda s: s.fields["chunk_index"])
    text, spans = merge(passages)
    return OpenedSource(source, text, spans, next(span for span in spans if span.id == source.id))


async def _find(retriever: Retriever, filter_text: str, top_k: int, identity: str | None) -> tuple[Source, ...]:
    spec = RetrievalSpec(query="*", filter=filter_text, top_k=top_k, vector_search=False, select_fields=_FIELDS)
    return (await retriever.search("*", spec, identity)).sources


def merge(passages: list[Source]) -> tuple[str, tuple[Span, ...]]:
    """The passages as one text (each passage's overlap with the previous one kept once), and
    where each passage lies in it."""
    text, spans = "", []
    for passage in passages:
        overlap = _overlap(text, passage.text)
        if text and not overlap:
            text += "\n\n"
        start = len(text) - overlap
        text += passage.text[overlap:]
        fields = passage.fields
        spans.append(Span(passage.id, int(fields["chunk_index"]), fields.get("page"), start, len(text)))
    return text, tuple(spans)


def _overlap(before: str, after: str) -> int:
    """The length of the longest end of `before` that starts `after` (0 when under _PROBE)."""
    probe = after[:_PROBE]
    if len(probe) < _PROBE:
        return 0
    position = before.find(probe, max(0, len(before) - len(after)))
    while position != -1:
        if after.startswith(before[position:]):
            return len(before) - position
        position = before.find(probe, position + 1)
    return 0
