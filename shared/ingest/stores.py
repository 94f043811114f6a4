"""Where documents are kept: a folder (locally) or a Blob Storage container (Azure, Azurite).

Both keep, beside each document, what it is indexed with (category, tags, allowed_principals:
a folder in `<file>.meta.json`, as the ingestion command reads it; a blob in its metadata or
in a `<blob>.meta.json` blob) and the status of its last indexing (indexed or failed, the
reason, the chunk count, when). A blob keeps that status in its metadata, which Blob
Storage changes without a BlobCreated event, so writing it triggers nothing; a folder keeps
it under `.status/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from shared.ingest.documents import supported
from shared.ingest.pipeline import METADATA_SUFFIX, DocumentMetadata, read_metadata

if TYPE_CHECKING:
    from azure.storage.blob.aio import ContainerClient

State = Literal["indexed", "failed"]
STATUS_FOLDER = ".status"
_STATUS_KEYS = ("index_state", "index_chunks", "index_reason", "index_updated", "index_hash")


@dataclass(frozen=True)
class Status:
    state: State
    content_hash: str
    chunks: int | None = None
    reason: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class StoredDocument:
    name: str
    data: bytes
    metadata: DocumentMetadata
    content_hash: str  # of the content and of what it is indexed with
    status: Status | None


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    status: Status | None


class DocumentStore(Protocol):
    async def read(self, name: str) -> StoredDocument | None:
        """The document as it is now; None when there is none."""

    async def write(self, name: str, data: bytes, metadata: DocumentMetadata, status: Status | None = None) -> None:
        """Keep the document with what it is indexed with, and its status when it is known already."""

    async def delete(self, name: str) -> bool:
        """Remove the document and what is kept beside it; False when there was none."""

    async def entries(self, prefix: str) -> list[Entry]:
        """The documents whose names start with `prefix`, with their status."""

    async def versions(self) -> dict[str, str]:
        """Every document and metadata file, by name, with a tag that changes when it changes."""

    async def set_status(self, name: str, status: Status) -> None: ...


def stored_hash(data: bytes, metadata: DocumentMetadata) -> str:
    """The hash a store gives a document it keeps with this metadata (as the ingestion command
    hashes a file and its `.meta.json`): what an upload is indexed under."""
    return hashlib.sha256(data + metadata.model_dump_json().encode()).hexdigest()


def metadata_owner(name: str) -> str:
    """The document a name stands for: itself, or the document a `.meta.json` describes."""
    return name.removesuffix(METADATA_SUFFIX)


class FolderStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def read(self, name: str) -> StoredDocument | None:
        return await asyncio.to_thread(self._read, name)

    async def write(self, name: str, data: bytes, metadata: DocumentMetadata, status: Status | None = None) -> None:
        if status is not None:
            await self.set_status(name, status)
        await asyncio.to_thread(self._write, name, data, metadata)

    async def delete(self, name: str) -> bool:
        return await asyncio.to_thread(self._delete, name)

    async def entries(self, prefix: str) -> list[Entry]:
        return await asyncio.to_thread(self._entries, prefix)

    async def versions(self) -> dict[str, str]:
        return await asyncio.to_thread(self._versions)

    async def set_status(self, name: str, status: Status) -> None:
        record = {
            "state": status.state,
            "content_hash": status.content_hash,
            "chunks": status.chunks,
            "reason": status.reason,
            "updated_at": (status.updated_at or datetime.now(UTC)).isoformat(),
        }
        await asyncio.to_thread(_write_atomically, self._status_path(name), json.dumps(record).encode())

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()) or STATUS_FOLDER in Path(name).parts:
            raise ValueError(f"{name!r} is not a document name")
        return path

    def _status_path(self, name: str) -> Path:
        self._path(name)  # a document's name, or ValueError
        return self.root / STATUS_FOLDER / f"{name}.json"

    def _read(self, name: str) -> StoredDocument | None:
        path = self._path(name)
        if not path.is_file():
            return None
        metadata, content_hash = read_metadata(path, ())
        return StoredDocument(name, path.read_bytes(), metadata, content_hash, self._status(name))

    def _write(self, name: str, data: bytes, metadata: DocumentMetadata) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # The metadata first: a watcher that sees the document sees what it is indexed with.
        _write_atomically(path.with_name(path.name + METADATA_SUFFIX), metadata.model_dump_json().encode())
        _write_atomically(path, data)

    def _delete(self, name: str) -> bool:
        path = self._path(name)
        existed = path.is_file()
        for leftover in (path, path.with_name(path.name + METADATA_SUFFIX), self._status_path(name)):
            leftover.unlink(missing_ok=True)
        return existed

    def _entries(self, prefix: str) -> list[Entry]:
        return [
            Entry(name, (self.root / name).stat().st_size, self._status(name))
            for name in self._names()
            if name.startswith(prefix) and supported(name)
        ]

    def _versions(self) -> dict[str, str]:
        versions = {}
        for name in self._names():
            if supported(metadata_owner(name)):
                stat = (self.root / name).stat()
                versions[name] = f"{stat.st_mtime_ns}-{stat.st_size}"
        return versions

    def _names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        names = []
        for folder, subfolders, files in os.walk(self.root):
            subfolders[:] = [d for d in subfolders if d != STATUS_FOLDER]
            relative = Path(folder).relative_to(self.root)
            names += [(relative / f).as_posix() for f in files if not f.startswith(".")]
        return sorted(names)

    def _status(self, name: str) -> Status | None:
        path = self._status_path(name)
        if not path.is_file():
            return None
        record = json.loads(path.read_bytes())
        return Status(
            record["state"],
            record["content_hash"],
            record["chunks"],
            record["reason"],
            datetime.fromisoformat(record["updated_at"]),
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside, then rename: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


class BlobStore:
    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    async def read(self, name: str) -> StoredDocument | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            download = await self._container.get_blob_client(name).download_blob()
            data = await download.readall()
        except ResourceNotFoundError:
            return None
        blob_metadata = download.properties.metadata or {}
        sidecar = await self._sidecar(name)
        if sidecar is not None:
            metadata, digest = DocumentMetadata.model_validate_json(sidecar), hashlib.sha256(data + sidecar).hexdigest()
        else:
            metadata = metadata_from_blob(blob_metadata)
            digest = stored_hash(data, metadata)
        return StoredDocument(name, data, metadata, digest, status_from_blob(blob_metadata))

    async def write(self, name: str, data: bytes, metadata: DocumentMetadata, status: Status | None = None) -> None:
        # The status in the same call: the BlobCreated event it raises finds the blob complete.
        values = {**metadata_to_blob(metadata), **(status_to_blob(status) if status else {})}
        await self._container.get_blob_client(name).upload_blob(data, overwrite=True, metadata=values)

    async def delete(self, name: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            await self._container.delete_blob(name + METADATA_SUFFIX, delete_snapshots="include")
        try:
            await self._container.delete_blob(name, delete_snapshots="include")
        except ResourceNotFoundError:
            return False
        return True

    async def entries(self, prefix: str) -> list[Entry]:
        return [
            Entry(blob.name, blob.size, status_from_blob(blob.metadata or {}))
            async for blob in self._container.list_blobs(name_starts_with=prefix, include=["metadata"])
            if supported(blob.name)
        ]

    async def versions(self) -> dict[str, str]:
        return {
            blob.name: blob.etag async for blob in self._container.list_blobs() if supported(metadata_owner(blob.name))
        }

    async def set_status(self, name: str, status: Status) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        blob = self._container.get_blob_client(name)
        try:
            properties = await blob.get_blob_properties()
            kept = {k: v for k, v in (properties.metadata or {}).items() if k not in _STATUS_KEYS}
            # Only on the version that was indexed: a newer one brings its own event.
            await blob.set_blob_metadata(
                {**kept, **status_to_blob(status)}, etag=properties.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceNotFoundError, ResourceModifiedError):
            pass

    async def _sidecar(self, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return await (await self._container.get_blob_client(name + METADATA_SUFFIX).download_blob()).readall()
        except ResourceNotFoundError:
            return None


# Blob metadata values are ASCII: lists and free text are kept as JSON, which escapes the rest.
def metadata_to_blob(metadata: DocumentMetadata) -> dict[str, str]:
    values = {"allowed_principals": json.dumps(metadata.allowed_principals), "tags": json.dumps(metadata.tags)}
    if metadata.category is not None:
        values["category"] = json.dumps(metadata.category)
    return values


def metadata_from_blob(values: dict[str, str]) -> DocumentMetadata:
    """What a blob is indexed with, from its metadata: a JSON list (or one id) for allowed_principals
    and tags, a string (JSON or plain) for category."""

    def listed(key: str) -> list[str]:
        raw = values.get(key, "").strip()
        return json.loads(raw) if raw.startswith("[") else [raw] if raw else []

    category = values.get("category")
    if category is not None and category.startswith('"'):
        category = json.loads(category)
    return DocumentMetadata(category=category, tags=listed("tags"), allowed_principals=listed("allowed_principals"))


def status_to_blob(status: Status) -> dict[str, str]:
    values = {
        "index_state": status.state,
        "index_hash": status.content_hash,
        "index_updated": (status.updated_at or datetime.now(UTC)).isoformat(),
    }
    if status.chunks is not None:
        values["index_chunks"] = str(status.chunks)
    if status.reason is not None:
        values["index_reason"] = json.dumps(status.reason)
    return values


def status_from_blob(values: dict[str, str]) -> Status | None:
    if values.get("index_state") not in ("indexed", "failed"):
        return None
    return Status(
        values["index_state"],  # type: ignore[arg-type]
        values.get("index_hash", ""),
        int(values["index_chunks"]) if "index_chunks" in values else None,
        json.loads(values["index_reason"]) if "index_reason" in values else None,
        datetime.fromisoformat(values["index_updated"]) if "index_updated" in values else None,
    )
