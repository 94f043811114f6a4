"""The small typed interfaces the orchestration core talks to.

Each has one module per backend (shared.llm.embedded, shared.retrieval.embedded, ...);
shared.backends chooses them from configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from shared.core.types import Completion, GenerationParams, Message, ModelInfo, RetrievalSpec, SearchResult

if TYPE_CHECKING:
    import numpy as np


class Embeddings(Protocol):
    dimensions: int

    async def embed_query(self, text: str) -> np.ndarray:
        """A unit-length vector for a search query."""

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length row per passage to index."""


class Retriever(Protocol):
    index_name: str

    async def search(self, question: str, spec: RetrievalSpec, identity: str | None = None) -> SearchResult:
        """Context for a question, as `identity` may see it (when the deployment sets a security filter).

        Raises RequestError for bad arguments, UpstreamError when the search service fails.
        """


class ChatModel(Protocol):
    info: ModelInfo
    default_parameters: dict

    async def complete(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        """One completion; raises UpstreamError when the model cannot answer."""


class TemplateSource(Protocol):
    async def load(self, name: str) -> tuple[str, str]:
        """(template text, where it came from, e.g. "file:rag_system.jinja2"); RequestError if missing."""
