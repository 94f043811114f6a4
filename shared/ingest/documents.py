"""One document into the index or out of it: what an upload, the blob trigger and the local
watcher all call, with the ingestion command's own extraction, chunking and embedding.

A document is indexed whole or not at all: its text is extracted and chunked and its chunks
embedded before anything is written, and the index replaces the document's chunks in one
call. A document whose content hash the index already holds is left alone. Each document
logs one line: indexed (chunks, seconds), unchanged, failed (the reason) or removed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal, TypeVar

from shared.core.interfaces import Embeddings, IndexWriter
from shared.core.types import Chunk
from shared.ingest.chunking import Chunker
from shared.ingest.extract import SUPPORTED_SUFFIXES
from shared.ingest.pipeline import DocumentMetadata, document_chunks, embed_by_length, embedded_text, indexed_hash

log = logging.getLogger("ingest.documents")

Result = Literal["indexed", "unchanged", "failed", "removed"]
T = TypeVar("T")

# A transient failure (the embedding service, the index, storage) is tried again after these pauses.
RETRY_DELAYS_SECONDS = (0.5, 2.0)


class DocumentRejected(Exception):
    """A document that cannot be indexed, whatever the retries: the reason is for the caller."""

    def __init__(self, reason: str, kind: Literal["too_large", "unsupported_type", "unreadable"]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class DocumentLimits:
    max_bytes: int
    max_pages: int
    max_chunks: int


@dataclass(frozen=True)
class Outcome:
    result: Result
    chunks: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PreparedDocument:
    name: str
    content_hash: str
    chunks: list[Chunk]


def supported(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in SUPPORTED_SUFFIXES


class DocumentIndexer:
    def __init__(self, index: IndexWriter, embeddings: Embeddings, limits: DocumentLimits) -> None:
        self._index = index
        self._embeddings = embeddings
        self.limits = limits
        self._chunker: Chunker | None = None
        self._ready = False
        self._completing: set[asyncio.Task[None]] = set()

    async def index(self, name: str, data: bytes, metadata: DocumentMetadata, content_hash: str) -> Outcome:
        """Index the document unless the index holds this very content; DocumentRejected if it cannot be."""
        started = time.perf_counter()
        if await self.indexed_hash(name) == indexed_hash(content_hash, self._chunks()):
            return logged(name, Outcome("unchanged"), started)
        try:
            prepared = await self.prepare(name, data, metadata, content_hash)
        except DocumentRejected as exc:
            logged(name, Outcome("failed", reason=exc.reason), started)
            raise
        return await self.commit(prepared, started)

    async def commit(self, prepared: PreparedDocument, started: float) -> Outcome:
        """Write a prepared document (started: when its work began, for the log line). It is
        searchable on return; what the index derives from its chunks follows in the background."""
        await self.write(prepared)
        self._complete_later(prepared.name)
        return logged(prepared.name, Outcome("indexed", chunks=len(prepared.chunks)), started)

    def _complete_later(self, name: str) -> None:
        """The document's answer candidates' vectors, made after the caller has its answer: until
        they are stored, a question about the document embeds the candidates it reads itself."""
        task = asyncio.create_task(self._complete_document(name))
        self._completing.add(task)
        task.add_done_callback(self._completing.discard)

    async def _complete_document(self, name: str) -> None:
        try:
            await self._index.complete(functools.partial(embed_by_length, self._embeddings), name)
        except Exception:  # noqa: BLE001 - questions embed what is missing; the next full completion retries
            log.exception("document %s: storing its answer candidates' vectors failed", name)

    async def settled(self) -> None:
        """Wait for the documents' background work (a test's or a shutdown's)."""
        while self._completing:
            await asyncio.gather(*self._completing)

    async def prepare(self, name: str, data: bytes, metadata: DocumentMetadata, content_hash: str) -> PreparedDocument:
        """The document's chunks, within the limits, under its indexed hash (pipeline.indexed_hash of
        `content_hash`); DocumentRejected naming why not."""
        limits = self.limits
        if not supported(name):
            raise DocumentRejected(
                f"{PurePosixPath(name).suffix or 'no suffix'}: unsupported file type; supported: "
                f"{', '.join(sorted(SUPPORTED_SUFFIXES))}",
                "unsupported_type",
            )
        if len(data) > limits.max_bytes:
            raise DocumentRejected(f"the file is over the {limits.max_bytes} bytes a document may have", "too_large")
        chunker = self._chunks()
        content_hash = indexed_hash(content_hash, chunker)
        try:
            # Parsing a PDF is CPU work: off the event loop.
            chunks = await asyncio.to_thread(document_chunks, name, data, metadata, content_hash, chunker)
        except Exception as exc:  # noqa: BLE001 - whatever the parser raises, the file cannot be read
            reason = f"the file could not be read ({type(exc).__name__}: {exc})"
            raise DocumentRejected(reason[:300], "unreadable") from None
        pages = max((c.page or 1 for c in chunks), default=0)
        if pages > limits.max_pages:
            raise DocumentRejected(f"{pages} pages, over the {limits.max_pages} a document may have", "too_large")
        if len(chunks) > limits.max_chunks:
            raise DocumentRejected(
                f"{len(chunks)} chunks, over the {limits.max_chunks} a document may make", "too_large"
            )
        if not chunks:
            raise DocumentRejected("no text could be extracted (a scanned PDF has none)", "unreadable")
        return PreparedDocument(name, content_hash, chunks)

    async def write(self, prepared: PreparedDocument) -> None:
        """Embed the chunks, then make them the document's only chunks in the index."""
        if not self._ready:
            await self._index.ensure_index(self._embeddings.name, self._embeddings.dimensions)
            self._ready = True
        vectors = await embed_by_length(self._embeddings, [embedded_text(c) for c in prepared.chunks])
        await self._index.replace_documents([(prepared.name, prepared.content_hash, prepared.chunks, vectors)])

    async def complete(self) -> None:
        """What the index derives from its chunks, once documents are written (IndexWriter.complete)."""
        await self._index.complete(functools.partial(embed_by_length, self._embeddings))

    async def indexed_hash(self, name: str) -> str | None:
        return await self._index.document_hash(name)

    async def remove(self, name: str) -> Outcome:
        started = time.perf_counter()
        await self._index.delete_document(name)
        return logged(name, Outcome("removed"), started)

    def _chunks(self) -> Chunker:
        if self._chunker is None:  # the tokenizer loads on first use, not when the app starts
            self._chunker = Chunker()
        return self._chunker


def logged(name: str, outcome: Outcome, started: float) -> Outcome:
    """One log line per document and what became of it."""
    seconds = time.perf_counter() - started
    if outcome.result == "failed":
        log.warning("document %s: failed in %.2f s: %s", name, seconds, outcome.reason)
    elif outcome.result == "indexed":
        log.info("document %s: indexed, %d chunks in %.2f s", name, outcome.chunks, seconds)
    else:
        log.info("document %s: %s in %.2f s", name, outcome.result, seconds)
    return outcome


async def with_retries(attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """`attempt()`, tried again after each of RETRY_DELAYS_SECONDS when it fails for a reason
    other than the document itself; the last failure is raised."""
    for delay in RETRY_DELAYS_SECONDS:
        try:
            return await attempt()
        except DocumentRejected:
            raise
        except Exception as exc:  # noqa: BLE001 - storage, embeddings and the index fail in many ways
            log.warning("%s failed (%s), trying again in %.1f s", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
    return await attempt()
