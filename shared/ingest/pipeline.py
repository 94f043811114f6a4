"""The ingestion pipeline: a folder of .md/.txt/.html/.pdf files into a search index. Its command
is `python -m devtools.ingest`; the blob trigger and the upload endpoint use its parts per file.

Safe to re-run: unchanged files are skipped (unless they were cut into chunks of another size,
or by an older CHUNKING_VERSION), changed files replace their chunks, and
`prune` removes documents whose files are gone. A document is keyed by its path relative
to FOLDER. Changed files are gathered until they hold WRITE_BATCH chunks: their chunks are
embedded together, sorted by length, and the documents are written in one transaction (the
bulk path, shared.retrieval.bulk_load). An index whose vectors another embedding model made
is emptied first (logged), and every file is indexed anew.

Optional metadata for a file sits beside it in `<file name>.meta.json`, e.g. for
`policy.pdf`, `policy.pdf.meta.json`: {"category": "hr", "tags": ["leave"],
"allowed_principals": ["group-id"]}. Editing it re-indexes the file.

A file whose metadata lists no allowed_principals gets the `default_principals`; with
none either, it lists no one, and where SEARCH_SECURITY_FIELD is set (every Azure
deployment) no one finds it. A file is never shared with everyone unless an id that stands
for everyone (e.g. a tenant-wide group) is named.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from shared.core.interfaces import Embeddings, IndexWriter
from shared.core.types import Chunk
from shared.ingest.chunking import Chunker
from shared.ingest.extract import SUPPORTED_SUFFIXES, extract, extract_bytes

log = logging.getLogger("ingest")

# Chunks per embedding call, and chunks (of whole documents) written per transaction.
EMBED_BATCH = 32
WRITE_BATCH = 512
METADATA_SUFFIX = ".meta.json"


class DocumentMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str | None = None
    tags: list[str] = []
    allowed_principals: list[str] = []


class Progress(Protocol):
    """Where a run reports the files it has done (a tqdm bar in the command, nothing elsewhere)."""

    def update(self, n: int = 1) -> object: ...

    def set_postfix_str(self, s: str = "") -> object: ...


class _Silent:
    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None

    def set_postfix_str(self, s: str = "") -> None:
        return None


def no_progress(total: int) -> AbstractContextManager[Progress]:
    return _Silent()


@dataclass
class Summary:
    indexed: int = 0
    chunks: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    unshared: int = 0  # files that list no principal: no one finds them under security trimming


def find_files(folder: Path) -> dict[str, Path]:
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES
    }


def read_metadata(path: Path, default_principals: tuple[str, ...]) -> tuple[DocumentMetadata, str]:
    """A file's metadata, its principals defaulted, and the hash of everything it is indexed from."""
    sidecar = path.with_name(path.name + METADATA_SUFFIX)
    sidecar_bytes = sidecar.read_bytes() if sidecar.is_file() else b""
    metadata = DocumentMetadata.model_validate_json(sidecar_bytes or b"{}")
    material = path.read_bytes() + sidecar_bytes
    if not metadata.allowed_principals and default_principals:
        metadata = metadata.model_copy(update={"allowed_principals": list(default_principals)})
        # Part of what is indexed: other defaults re-index the file.
        material += b"\0default-principals:" + "\0".join(default_principals).encode()
    return metadata, hashlib.sha256(material).hexdigest()


# How documents become chunks: reading them (shared.ingest.extract) and cutting them
# (shared.ingest.chunking). Change it with a change to either that cuts a document differently:
# each document's indexed hash holds it, so the next ingestion reads every document again.
CHUNKING_VERSION = "2026-12-07.2"


def indexed_hash(content_hash: str, chunker: Chunker) -> str:
    """The hash the index records for a document: its content's, and how it was cut (CHUNKING_VERSION,
    the chunk size and overlap), so that a document is indexed again when either changes."""
    how = f"{CHUNKING_VERSION}\0{chunker.max_tokens}\0{chunker.overlap_tokens}"
    return hashlib.sha256(f"{content_hash}\0{how}".encode()).hexdigest()


@dataclass
class PendingDocument:
    name: str
    content_hash: str
    chunks: list[Chunk]


def document_chunks(
    name: str, source: Path | bytes, metadata: DocumentMetadata, content_hash: str, chunker: Chunker
) -> list[Chunk]:
    """The chunks of a file, or of a file's contents (its type from the suffix of `name`)."""
    document = extract(source) if isinstance(source, Path) else extract_bytes(source, name)
    pieces = [(page.number, page.section, text) for page in document.pages for text in chunker.split(page.text)]
    return [
        Chunk(
            filename=name,
            title=document.title,
            chunk_index=i,
            page=page,
            section=section,
            text=text,
            content_hash=content_hash,
            category=metadata.category,
            tags=tuple(metadata.tags),
            allowed_principals=tuple(metadata.allowed_principals),
        )
        for i, (page, section, text) in enumerate(pieces)
    ]


def embedded_text(chunk: Chunk) -> str:
    """What a chunk's vector is made from: its text under its heading, so that the heading finds it too."""
    return f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text


async def embed_by_length(embeddings: Embeddings, texts: list[str]) -> list[np.ndarray]:
    """One vector per text, in order. Texts go to the embedder sorted by length, EMBED_BATCH at a
    time, so that a batch pads little; all batches are submitted at once, and the embedder runs
    as many side by side as it can (EMBEDDINGS_POOL_SIZE)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [order[start : start + EMBED_BATCH] for start in range(0, len(order), EMBED_BATCH)]
    results = await asyncio.gather(*(embeddings.embed_documents([texts[i] for i in batch]) for batch in batches))
    vectors: list[np.ndarray] = [np.empty(0)] * len(texts)
    for batch, rows in zip(batches, results, strict=True):
        for i, row in zip(batch, rows, strict=True):
            vectors[i] = row
    return vectors


class BatchWriter:
    """Gathers changed documents until they hold WRITE_BATCH chunks, then embeds their chunks
    together and writes the documents in one transaction."""

    def __init__(self, index: IndexWriter, embeddings: Embeddings, summary: Summary, progress: Progress) -> None:
        self._index = index
        self._embeddings = embeddings
        self._summary = summary
        self._progress = progress
        self._pending: list[PendingDocument] = []

    async def add(self, document: PendingDocument) -> None:
        self._pending.append(document)
        if sum(len(d.chunks) for d in self._pending) >= WRITE_BATCH:
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        texts = [embedded_text(c) for d in self._pending for c in d.chunks]
        vectors = iter(await embed_by_length(self._embeddings, texts))
        await self._index.replace_documents(
            [(d.name, d.content_hash, d.chunks, [next(vectors) for _ in d.chunks]) for d in self._pending]
        )
        self._summary.indexed += len(self._pending)
        self._summary.chunks += sum(len(d.chunks) for d in self._pending)
        self._progress.update(len(self._pending))
        self._progress.set_postfix_str(f"{self._summary.chunks} chunks")
        self._pending.clear()


async def ingest(
    folder: Path,
    index: IndexWriter,
    embeddings: Embeddings,
    *,
    prune: bool,
    chunker: Chunker,
    default_principals: tuple[str, ...] = (),
    progress: Callable[[int], AbstractContextManager[Progress]] = no_progress,
) -> Summary:
    """Index the files of `folder`; `progress(total)` opens what counts the files done."""
    await index.ensure_index(embeddings.name, embeddings.dimensions)
    files = find_files(folder)
    known = await index.document_hashes()
    summary = Summary()

    with progress(len(files)) as done:
        writer = BatchWriter(index, embeddings, summary, done)
        for name, path in files.items():
            try:
                metadata, content_hash = read_metadata(path, default_principals)
                content_hash = indexed_hash(content_hash, chunker)
                summary.unshared += not metadata.allowed_principals
                if known.get(name) == content_hash:
                    summary.unchanged += 1
                    done.update()
                    continue
                chunks = document_chunks(name, path, metadata, content_hash, chunker)
            except Exception as exc:  # one unreadable file must not stop the run
                log.warning("skipped %s: %s", name, exc)
                summary.failed += 1
                done.update()
                continue
            await writer.add(PendingDocument(name, content_hash, chunks))
        await writer.flush()

    if prune:
        for name in known.keys() - files.keys():
            await index.delete_document(name)
            summary.removed += 1
    await index.complete(functools.partial(embed_by_length, embeddings))
    return summary
