"""What a turn searches instead of the main knowledge base, and what that search reports.

POST /api/v1/chat/complete names knowledge sources (combined by a strategy) and brings
documents (attachments, files under the documents root); the turn carries that as a
SourcePlan, from which shared.backends builds the turn's retriever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Strategy = Literal["merge", "sequential", "ensemble"]  # how the named sources' hits are combined


@dataclass(frozen=True)
class DocumentRef:
    """A document a request brings: an attachment (a blob by storage key) or a path under the documents root."""

    kind: Literal["attachment", "document"]
    key: str
    title: str | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class NamedSource:
    """A configured knowledge source as a request asks to search it."""

    name: str
    embedding_model: str  # what the caller takes the source to be embedded with: refused if it is not
    limit: int = 5
    threshold: float | None = None  # minimum cosine similarity; None: the embedding model's default
    weight: float = 1.0
    metadata_filters: Mapping[str, Any] | None = None  # field -> a value, or values any of which matches


@dataclass(frozen=True)
class SourcePlan:
    """The documents a request brings, then the named sources it searches, numbered in that order."""

    sources: tuple[NamedSource, ...] | None = None  # None: every configured source, with the defaults
    strategy: Strategy = "merge"
    max_total: int = 10  # hits kept from the named sources together
    documents: tuple[DocumentRef, ...] = ()
    # Each document whole (up to its max_tokens), or its passages most like the question.
    include_full_content: bool = True
    embedding_model: str | None = None  # the request's: refused unless it is the deployment's


@dataclass(frozen=True)
class RetrievalReport:
    """What the search of a SourcePlan did besides finding sources, for the response that describes it."""

    strategy: Strategy | None = None  # None: no named source was searched (documents only)
    candidates_evaluated: int = 0  # hits the named sources returned, before they were combined
    sources_searched: tuple[str, ...] = ()  # in the order searched
    content_lengths: Mapping[str, int] = field(default_factory=dict)  # a document's source id -> its characters
