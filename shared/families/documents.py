"""The caller's own documents (/api/v2/documents, declared in shared.routes.documents): upload
one, list them with their status, delete one.

An upload is indexed before the answer, for its owner alone: its allowed_principals are the
caller's identity, and its name in the index starts with PRIVATE_PREFIX, which search
trims to the principals a document lists even where nothing else is trimmed. It is stored
under `uploads/<owner key>/<document id>/<file name>` in the document store (a folder, or
the Blob container the blob trigger watches), so the owner key (a hash of the identity) is
what lists and deletes a caller's documents: another identity never reaches them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.http import requests
from shared.http.errors import InvalidRequest
from shared.identity import ANONYMOUS_USER
from shared.retrieval.query import PRIVATE_PREFIX

if TYPE_CHECKING:
    from shared.http.endpoints import Call
    from shared.ingest.documents import DocumentRejected
    from shared.ingest.stores import Status
    from shared.wire.documents import DocumentOut, DocumentPath, DocumentsList, DocumentsQuery

NO_IDENTITY = (
    "documents belong to an identity: a validated bearer token (AUTH_TOKEN_VALIDATION), or a user_id from a "
    "trusted backend (AUTH_TRUST_ASSERTED_USERS)"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
MAX_FILENAME_CHARS = 120


async def upload(call: Call[None, DocumentsQuery]) -> DocumentOut:
    """Index one file for the caller; 413 over DOCUMENTS_MAX_BYTES, 415 for another type, 422 unreadable."""
    from shared.backends import document_sync
    from shared.ingest.documents import DocumentRejected
    from shared.ingest.pipeline import DocumentMetadata
    from shared.ingest.stores import Status, stored_hash

    owner = _identity(call)
    upload = await requests.file_upload(call.request, "file", get_settings().documents.max_bytes)
    filename = safe_filename(upload.filename)
    name = f"{_owner_prefix(owner)}{secrets.token_hex(8)}/{filename}"
    metadata = DocumentMetadata(allowed_principals=[owner])
    digest = stored_hash(upload.data, metadata)
    sync = document_sync()
    started = time.perf_counter()
    try:
        prepared = await sync.indexer.prepare(name, upload.data, metadata, digest)
    except DocumentRejected as exc:
        raise _refusal(exc) from None
    # Indexed first, then stored: the blob trigger that the stored blob fires finds it indexed.
    outcome = await sync.indexer.commit(prepared, started)
    status = Status("indexed", digest, outcome.chunks, None, datetime.now(UTC))
    try:
        await sync.store.write(name, upload.data, metadata, status)
    except Exception:
        await sync.indexer.remove(name)  # nothing half-kept: not in the index without its file
        raise
    return _document_out(name, len(upload.data), status)


async def listing(call: Call[None, DocumentsQuery]) -> DocumentsList:
    from shared.backends import document_store
    from shared.wire.documents import DocumentsList

    entries = await document_store().entries(_owner_prefix(_identity(call)))
    return DocumentsList(documents=[_document_out(e.name, e.size, e.status) for e in entries])


async def delete(call: Call[None, DocumentsQuery, DocumentPath]) -> None:
    from shared.backends import document_sync

    sync = document_sync()
    document_id = call.path.document_id
    entries = await sync.store.entries(f"{_owner_prefix(_identity(call))}{document_id}/")
    if not entries:
        raise RequestError(f"no document {document_id!r} for this user", field="document_id", status=404)
    for entry in entries:
        await sync.indexer.remove(entry.name)  # out of search first, then out of the store
        await sync.store.delete(entry.name)


def safe_filename(raw: str) -> str:
    """The uploaded file's own name, without folders, as letters, digits and `._ -` (others become _)."""
    base = re.split(r"[\\/]", raw)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(". ")
    return cleaned[-MAX_FILENAME_CHARS:] or "document"


def _identity(call: Call[None, DocumentsQuery, Any]) -> str:
    identity = call.principal(call.query.user_id).identity
    # An anonymous upload would be no one's, or everyone's: so would one listing the principal
    # that callers without an identity search as.
    if identity is None or identity == ANONYMOUS_USER:
        raise RequestError(NO_IDENTITY, status=403, code="identity_required")
    return identity


def _owner_prefix(identity: str) -> str:
    return f"{PRIVATE_PREFIX}{hashlib.sha256(identity.encode()).hexdigest()[:32]}/"


def _refusal(exc: DocumentRejected) -> Exception:
    if exc.kind == "too_large":
        return RequestError(exc.reason, status=413)
    if exc.kind == "unsupported_type":
        return RequestError(exc.reason, status=415)
    return InvalidRequest.one(["body", "file"], exc.reason, "unreadable_document")


def _document_out(name: str, size: int, status: Status | None) -> DocumentOut:
    from shared.wire.documents import DocumentOut

    document_id, filename = name.split("/")[2:4]
    return DocumentOut(
        id=document_id,
        filename=filename,
        name=name,
        size=size,
        status=status.state if status else "pending",
        chunks=status.chunks if status else None,
        reason=status.reason if status else None,
        updated_at=status.updated_at if status else None,
    )
