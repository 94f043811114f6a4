"""The caller's own documents (/api/v2/documents): upload one, list them with their status, delete
one. Whose they are, and how an upload is indexed, is shared.families.documents'."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.http.endpoints import Answer, ApiFamily, Call, api

if TYPE_CHECKING:
    from shared.wire.documents import DocumentPath, DocumentsQuery

TAG = ApiFamily.DOCUMENTS


@api.operation(
    "POST",
    "v2/documents",
    "Upload a document, indexed for the caller alone",
    TAG,
    query="documents.DocumentsQuery",
    form="documents.DocumentUpload",
    response="documents.DocumentOut",
    status=201,
    errors=(413, 415, 422, 500, 503),
)
async def upload_document(call: Call[None, DocumentsQuery]) -> Answer:
    """Index one file for the caller; 413 over DOCUMENTS_MAX_BYTES, 415 for another type, 422 unreadable."""
    from shared.families import documents

    return await documents.upload(call)


@api.operation(
    "GET",
    "v2/documents",
    "The caller's documents, with their indexing status",
    TAG,
    query="documents.DocumentsQuery",
    response="documents.DocumentsList",
    errors=(422, 500, 503),
)
async def list_documents(call: Call[None, DocumentsQuery]) -> Answer:
    from shared.families import documents

    return await documents.listing(call)


@api.operation(
    "DELETE",
    "v2/documents/{document_id}",
    "Delete one of the caller's documents from the index and the store",
    TAG,
    path="documents.DocumentPath",
    query="documents.DocumentsQuery",
    status=204,
    errors=(404, 422, 500, 503),
)
async def delete_document(call: Call[None, DocumentsQuery, DocumentPath]) -> Answer:
    from shared.families import documents

    await documents.delete(call)
    return None
