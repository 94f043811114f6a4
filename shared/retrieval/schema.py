"""The search index's fields, shared by the embedded index and Azure AI Search.

Ingestion creates both indexes from this list, and requests are checked against it:
`select_fields`, `facets`, `highlight_fields` and `$filter` may only name fields that allow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.core.types import Chunk

STRING = "Edm.String"
INT32 = "Edm.Int32"
STRING_COLLECTION = "Collection(Edm.String)"


@dataclass(frozen=True)
class IndexField:
    name: str
    type: str
    key: bool = False
    searchable: bool = False
    filterable: bool = False
    facetable: bool = False
    retrievable: bool = True

    @property
    def is_collection(self) -> bool:
        return self.type.startswith("Collection(")


VECTOR_FIELD = "embedding"

FIELDS: tuple[IndexField, ...] = (
    IndexField("id", STRING, key=True, filterable=True),
    IndexField("text", STRING, searchable=True),
    IndexField("title", STRING, searchable=True, filterable=True, facetable=True),
    IndexField("section", STRING, searchable=True),
    IndexField("filename", STRING, filterable=True, facetable=True),
    IndexField("chunk_index", INT32, filterable=True, facetable=True),
    IndexField("page", INT32, filterable=True, facetable=True),
    IndexField("content_hash", STRING, filterable=True),
    IndexField("category", STRING, filterable=True, facetable=True),
    IndexField("tags", STRING_COLLECTION, filterable=True, facetable=True),
    # Who may see a chunk (user or group ids); read by the security filter, never returned.
    IndexField("allowed_principals", STRING_COLLECTION, filterable=True, retrievable=False),
)

BY_NAME = {f.name: f for f in FIELDS}
RETRIEVABLE = tuple(f.name for f in FIELDS if f.retrievable)
SCALAR_COLUMNS = tuple(f.name for f in FIELDS if not f.is_collection)
COLLECTIONS = tuple(f.name for f in FIELDS if f.is_collection)


def index_document(chunk: Chunk) -> dict[str, Any]:
    """The chunk's indexed fields, by schema name (without the vector)."""
    return {f.name: getattr(chunk, f.name) for f in FIELDS}
