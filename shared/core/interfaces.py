"""The small typed interfaces the orchestration core talks to.

Each has one module per backend (the embedded model, Azure AI Search, the Jinja2 sandbox, ...);
shared.backends chooses them from configuration.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from shared.core.events import ToolCallDelta
from shared.core.types import (
    Chunk,
    Completion,
    Conversation,
    Feedback,
    GenerationParams,
    Message,
    ModelInfo,
    RetrievalSpec,
    SearchResult,
    SessionPage,
)

if TYPE_CHECKING:
    import numpy as np


class Embeddings(Protocol):
    dimensions: int
    name: str  # the model, as an index records it: vectors of two models are never compared

    async def embed_query(self, text: str) -> np.ndarray:
        """A unit-length vector for a search query."""

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length row per passage to index."""


class Retriever(Protocol):
    @property
    def index_name(self) -> str: ...

    async def search(self, question: str, spec: RetrievalSpec, identity: str | None = None) -> SearchResult:
        """Context for a question, as `identity` may see it (when the deployment sets a security filter).

        Raises RequestError for bad arguments, UpstreamError when the search service fails.
        """


class ChatModel(Protocol):
    info: ModelInfo
    default_parameters: dict

    async def complete(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        """One completion; raises UpstreamError when the model cannot answer."""

    def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[str | ToolCallDelta | Completion]:
        """Text deltas (and tool-call pieces) as they are generated, then the whole Completion last;
        UpstreamError on failure."""

    async def check(self) -> None:
        """A cheap call proving the model is reachable and the credentials work; raises if not."""

    def check_params(self, params: GenerationParams) -> None:
        """RequestError (400) for parameters past what this model takes, before any work is spent."""

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """The prompt tokens these messages take, with this model's tokenizer: a fixed priming
        (the count for no message) plus each message's own tokens, so that a prompt is fitted
        by counting each message once. Runs in a thread: it may take a while, never the loop."""

    def count_known_tokens(self, messages: Sequence[Message]) -> int | None:
        """count_tokens' answer when each text's count is known already (a lookup, run on the
        loop: a conversation's earlier messages and a repeated prompt), else None."""


class IndexWriter(Protocol):
    """Where ingestion writes chunks: the embedded index or Azure AI Search."""

    name: str

    async def ensure_index(self, model: str, dimensions: int) -> None:
        """Create or update the index for vectors of this size, made by this embedding model."""

    async def document_hashes(self) -> dict[str, str]:
        """The content hash of every indexed document, by file name."""

    async def document_hash(self, filename: str) -> str | None:
        """The content hash of one indexed document; None when the index does not hold it."""

    async def replace_documents(
        self, documents: Sequence[tuple[str, str, Sequence[Chunk], Sequence[np.ndarray]]]
    ) -> None:
        """Make each (filename, content hash, chunks, vectors) its document's only chunks."""

    async def delete_document(self, filename: str) -> None: ...

    async def chunk_count(self) -> int: ...

    async def complete(
        self, embed: Callable[[list[str]], Awaitable[Sequence[np.ndarray]]], filename: str | None = None
    ) -> None:
        """After writes: what the index derives from its chunks with the embedder `embed`, for every
        chunk or only the document `filename`'s (the embedded index: its answer candidates'
        vectors; Azure AI Search: nothing)."""

    async def close(self) -> None:
        """Release network clients, if any."""


class HistoryStore(Protocol):
    """Conversations by (user, session): a session id never reaches another user's messages.

    Failures raise UpstreamError with a safe message.
    """

    async def load(self, user_id: str, session_id: str, limit: int | None) -> Conversation:
        """The session's last `limit` messages (all when None), oldest first; none for an unknown session."""

    async def append(
        self, user_id: str, session_id: str, messages: Sequence[Message], loaded: Conversation | None = None
    ) -> None:
        """Add messages at the end, atomically: concurrent appends are all kept, none twice.

        `loaded` is what this turn read; the store may write from it without reading again.
        """

    async def list_sessions(self, user_id: str, page_size: int, continuation: str | None) -> SessionPage:
        """The user's sessions, most recently active first, a page at a time."""

    async def delete(self, user_id: str, session_id: str) -> bool:
        """Remove the session and all its messages; False if the user has no such session."""

    async def set_feedback(self, user_id: str, session_id: str, index: int, feedback: Feedback) -> bool:
        """Keep `feedback` with the session's message at `index` (0-based, as load returns them);
        False when there is no such message. RequestError if it is not an assistant message."""


class TemplateSource(Protocol):
    async def load(self, name: str) -> tuple[str, str]:
        """(template text, where it came from, e.g. "file:rag_system.jinja2"); RequestError if missing."""


class CompiledTemplate(Protocol):
    """A parsed template, ready to render."""

    @property
    def origin(self) -> str:
        """Where it came from: default | inline | file:<path> | blob:<path>."""

    @property
    def variables_used(self) -> tuple[str, ...]:
        """The variables it reads, sorted."""


class TemplateRenderer(Protocol):
    """Compiles and renders prompt and response templates; RequestError (a 400) for a template
    that does not parse, is refused, or passes a limit."""

    def compile(self, source: str, *, origin: str) -> CompiledTemplate:
        """The parsed template; `origin` "inline" marks one from the request, which is bounded
        before it is parsed and renders under a deadline."""

    async def render(self, compiled: CompiledTemplate, variables: dict[str, Any]) -> str: ...
