"""The retriever of one POST /api/v1/chat/complete request (a SourcePlan): attached blobs,
documents read from a folder, and passages from several knowledge sources, numbered in that
order so that the model's [1], [2] match what the response lists.

shared.backends builds it per request, from the plan the turn carries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from shared.core.errors import RequestError
from shared.core.source_plan import DocumentRef, RetrievalReport, SourcePlan
from shared.core.types import RetrievalSpec, SearchResult, Source
from shared.text import quoted

if TYPE_CHECKING:
    from azure.storage.blob.aio import ContainerClient

    from shared.core.interfaces import Embeddings
    from shared.retrieval.multi_source import MultiSourceSearch, SourceQuery

DEFAULT_DOCUMENT_TOKENS = 2_000  # per attachment or document, when the request does not say
EXCERPT_TOKENS = 150
MIN_EXCERPT_TOKENS = 20  # less room than this is not worth another passage
MAX_KEY_CHARS = 1_024


@dataclass(frozen=True)
class RequestContext:
    plan: SourcePlan
    sources: Sequence[SourceQuery] = ()  # the plan's named sources, checked against the configured ones
    multi_source: MultiSourceSearch | None = None  # set when there are sources to search
    embeddings: Embeddings | None = None
    attachments: ContainerClient | None = None
    documents_root: Path | None = None
    index_name: str = "request"

    async def search(self, question: str, spec: RetrievalSpec, identity: str | None = None) -> SearchResult:
        documents = await asyncio.gather(*(self._document(question, d) for d in self.plan.documents))
        sources = [source for source, _ in documents]
        lengths = {source.id: length for source, length in documents}
        if not (self.sources and self.multi_source is not None):
            return SearchResult(tuple(sources), self.index_name, report=RetrievalReport(content_lengths=lengths))
        plan = self.plan
        found = await self.multi_source.run(question, self.sources, plan.strategy, plan.max_total, identity)
        sources += [
            Source(h.source.id, h.source_name, h.similarity, h.source.text, h.source.fields) for h in found.hits
        ]
        report = RetrievalReport(plan.strategy, found.candidates_evaluated, tuple(found.sources_searched), lengths)
        return SearchResult(tuple(sources), self.index_name, report=report)

    async def _document(self, question: str, ref: DocumentRef) -> tuple[Source, int]:
        """The document as a source, fitted to its max_tokens; and the characters of its whole text."""
        from shared.ingest.extract import extract_bytes

        data = await (self._blob(ref.key) if ref.kind == "attachment" else asyncio.to_thread(self._file, ref.key))
        try:
            extracted = await asyncio.to_thread(extract_bytes, data, ref.key)
        except ValueError as exc:  # an unsupported type, or a file that does not parse
            raise RequestError(f"{ref.kind} {quoted(ref.key)}: {exc}", field=ref.kind) from exc
        text = "\n\n".join(page.text for page in extracted.pages).strip()
        fitted = await self._fit(question, text, ref.max_tokens or DEFAULT_DOCUMENT_TOKENS)
        title = ref.title or extracted.title
        location = "storage_key" if ref.kind == "attachment" else "path"
        fields = {"title": title, location: ref.key, "kind": ref.kind}
        return Source(f"{ref.kind}:{ref.key}", ref.kind, 1.0, fitted, fields), len(text)

    async def _blob(self, key: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        _check_key(key)
        try:
            downloader = await self.attachments.download_blob(key)
            return await downloader.readall()
        except ResourceNotFoundError as exc:
            raise RequestError(f"attachment {quoted(key)} not found", field="storage_key", status=404) from exc

    def _file(self, relative: str) -> bytes:
        root = self.documents_root.resolve()
        path = (root / relative).resolve()
        if PurePosixPath(relative).is_absolute() or root not in path.parents:
            raise RequestError(
                f"document path {quoted(relative)} is outside the documents folder", field="document_paths"
            )
        if not path.is_file():
            raise RequestError(f"document {quoted(relative)} not found", field="document_paths", status=404)
        return path.read_bytes()

    async def _fit(self, question: str, text: str, max_tokens: int) -> str:
        """The whole text up to `max_tokens`, or (include_full_content false) the passages most
        like the question, in document order, up to `max_tokens`. Tokenizing and splitting a
        document are CPU work on text of any size: they run in threads, never on the event loop."""
        if self.plan.include_full_content or self.embeddings is None:
            return await asyncio.to_thread(_first_tokens, text, max_tokens)
        from shared.ingest.chunking import Chunker

        passages = await asyncio.to_thread(Chunker(EXCERPT_TOKENS, 0).split, text)
        if not passages:
            return ""
        query = await self.embeddings.embed_query(question)
        similarity = np.asarray(await self.embeddings.embed_documents(passages)) @ np.asarray(query)
        return await asyncio.to_thread(_most_similar, passages, similarity, max_tokens)


def _first_tokens(text: str, max_tokens: int) -> str:
    tokens = _encoding()
    encoded = tokens.encode(text)
    return text if len(encoded) <= max_tokens else tokens.decode(encoded[:max_tokens])


def _most_similar(passages: list[str], similarity: np.ndarray, max_tokens: int) -> str:
    """The most similar passages, in their order, up to `max_tokens`; the one that overflows is cut."""
    tokens = _encoding()
    chosen: dict[int, str] = {}
    room = max_tokens
    for i in np.argsort(-similarity):
        encoded = tokens.encode(passages[i])
        chosen[int(i)] = passages[i] if len(encoded) <= room else tokens.decode(encoded[:room])
        room -= min(len(encoded), room)
        if room < MIN_EXCERPT_TOKENS:
            break
    return " … ".join(chosen[i] for i in sorted(chosen))


def _encoding():
    from shared.llm.tokens import encoding

    return encoding("cl100k_base")


def _check_key(key: str) -> None:
    """A storage key names a blob inside the attachments container, nothing else."""
    parts = PurePosixPath(key).parts
    if (
        len(key) > MAX_KEY_CHARS
        or key.startswith("/")
        or "\\" in key
        or "://" in key
        or any(part in ("..", ".") for part in parts)
    ):
        raise RequestError(f"storage_key {quoted(key)} must be a blob name inside the attachments container")
