"""The caller's own documents: POST /api/v2/documents (an upload), GET /api/v2/documents (the
caller's, with each one's indexing status) and DELETE /api/v2/documents/{document_id}."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.wire.common import QueryModel

DOCUMENT_ID_PATTERN = r"^[0-9a-f]{16}$"


class DocumentUpload(BaseModel):
    """The multipart/form-data body of an upload (described here; read by shared.http.requests)."""

    file: bytes = Field(description="One .md, .txt, .html or .pdf file; its name comes from the part's filename.")


class DocumentsQuery(QueryModel):
    user_id: str | None = Field(None, min_length=1, max_length=256, description="Whose documents (no tokens).")


class DocumentPath(BaseModel):
    document_id: str = Field(pattern=DOCUMENT_ID_PATTERN, description="As the upload's answer gave it.")


class DocumentOut(BaseModel):
    id: str
    filename: str = Field(description="The uploaded file's name; sources cite the document under `name`.")
    name: str = Field(description="The document's name in the index (the sources' `filename`).")
    size: int = Field(description="Bytes.")
    status: Literal["pending", "indexed", "failed"] = Field(
        description="pending: stored, not indexed yet; failed: see reason."
    )
    chunks: int | None = Field(description="Chunks in the index, when known.")
    reason: str | None = Field(description="Why indexing failed.")
    updated_at: datetime | None = Field(description="When the status was last set.")


class DocumentsList(BaseModel):
    documents: list[DocumentOut]
