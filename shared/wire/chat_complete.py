"""Wire shapes of the multi-source RAG chat: POST /api/v1/chat/complete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.core.source_plan import DocumentRef, NamedSource, RetrievalReport, SourcePlan
from shared.core.types import Timing, TurnResult
from shared.text import shortened
from shared.wire.citations import SNIPPET_CHARS
from shared.wire.common import (
    MAX_MESSAGE_CHARS,
    MODEL_ALIASES,
    SESSION_ID_PATTERN,
    Integer,
    PositiveInteger,
    StrictModel,
    within_history_limit,
)

PREVIEW_CHARS = 200
INDEX_TYPES = {"embedded": "embedded", "azure": "azure_ai_search"}  # by source backend
ANALYZERS = {"embedded": "unicode61", "azure": "standard.lucene"}  # what each backend's keyword search tokenizes with


class HistoryMessage(StrictModel):
    role: Literal["user", "assistant", "system"]
    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class DataSourceConfig(StrictModel):
    name: str = Field(min_length=1, description="A configured source (SOURCES_DEFINITIONS).")
    model_name: str = Field(min_length=1, description="The source's embedding model.")
    limit: Integer = Field(5, ge=1, le=50)
    similarity_threshold: float = Field(
        0.7,
        ge=-1,
        le=1,
        description="Minimum cosine similarity. When omitted: 0.7, or 0.1 for the embedded all-MiniLM-L6-v2, "
        "whose similarities spread lower.",
    )
    weight: float = Field(1.0, ge=0, le=2, description="Weight when merging results.")
    metadata_filters: dict[str, Any] | None = Field(
        None, description='Field values every result must have, e.g. {"category": "policy", "tags": ["legal"]}.'
    )

    def given_threshold(self) -> float | None:
        """The request's threshold; None when it omits it: the source's embedding model's then
        (shared.retrieval.multi_source.default_threshold)."""
        return self.similarity_threshold if "similarity_threshold" in self.model_fields_set else None


class RAGConfig(StrictModel):
    sources: list[DataSourceConfig] = Field(default_factory=list, description="Default: every configured source.")
    retrieval_strategy: Literal["merge", "sequential", "ensemble"] = "merge"
    max_total_results: Integer = Field(10, ge=1, le=50)


class Attachment(StrictModel):
    storage_key: str = Field(min_length=1, description="A blob name in the attachments container.")
    title: str | None = None
    max_tokens: PositiveInteger | None = None


class AttachmentConfig(StrictModel):
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    include_full_content: bool = Field(True, description="The whole document (up to max_tokens), or excerpts.")


class ChatCompleteRequest(StrictModel):
    # The validator's rule, stated in the schema: each context mode with its inputs.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"properties": {"context_mode": {"enum": ["rag", "none"]}}},
                {
                    "required": ["context_mode", "attachment_config"],
                    "properties": {
                        "context_mode": {"enum": ["attachment", "hybrid"]},
                        "attachment_config": {
                            "type": "object",
                            "required": ["attachments"],
                            "properties": {"attachments": {"minItems": 1}},
                        },
                    },
                },
                {
                    "required": ["context_mode", "document_paths"],
                    "properties": {
                        "context_mode": {"const": "document"},
                        "document_paths": {"type": "array", "minItems": 1},
                    },
                },
            ]
        }
    )

    query: str = Field(min_length=1, max_length=10_000)
    history: list[HistoryMessage] = Field(default_factory=list, max_length=50)
    context_mode: Literal["rag", "attachment", "hybrid", "document", "none"] = "rag"
    rag_config: RAGConfig | None = None
    attachment_config: AttachmentConfig | None = None
    document_paths: list[str] | None = Field(None, max_length=20)
    embedding_model: str | None = Field(None, min_length=1, description="Default: the configured embedding model.")
    llm_model: Annotated[str, Field(min_length=1, json_schema_extra=MODEL_ALIASES)] | None = Field(
        None, description="A model alias; default: the configured default model."
    )
    system_prompt: str | None = Field(None, max_length=20_000, description="Instructions; the sources follow them.")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: Integer = Field(1024, ge=1, le=8192)
    conversation_id: str | None = Field(None, pattern=SESSION_ID_PATTERN, description="Keep the history under it.")

    @field_validator("history")
    @classmethod
    def _history_within_limit(cls, history: list[HistoryMessage]) -> list[HistoryMessage]:
        within_history_limit(m.content for m in history)
        return history

    @model_validator(mode="after")
    def _mode_has_its_inputs(self) -> ChatCompleteRequest:
        attachments = self.attachment_config.attachments if self.attachment_config else []
        if self.context_mode in ("attachment", "hybrid") and not attachments:
            raise ValueError(f"context_mode {self.context_mode} needs attachment_config.attachments")
        if self.context_mode == "document" and not self.document_paths:
            raise ValueError("context_mode document needs document_paths")
        return self

    def source_plan(self) -> SourcePlan:
        """The named sources and documents the turn searches (shared.core.source_plan)."""
        rag = self.rag_config
        return SourcePlan(
            sources=self._named_sources(),
            strategy=rag.retrieval_strategy if rag else "merge",
            max_total=rag.max_total_results if rag else 10,
            documents=self._documents(),
            include_full_content=self.attachment_config.include_full_content if self.attachment_config else True,
            embedding_model=self.embedding_model,
        )

    def _documents(self) -> tuple[DocumentRef, ...]:
        if self.context_mode in ("attachment", "hybrid"):
            return tuple(
                DocumentRef("attachment", a.storage_key, a.title, a.max_tokens)
                for a in self.attachment_config.attachments
            )
        if self.context_mode == "document":
            return tuple(DocumentRef("document", path) for path in self.document_paths)
        return ()

    def _named_sources(self) -> tuple[NamedSource, ...] | None:
        """The sources to search in rag and hybrid mode: those named, else (None) every configured one."""
        if self.context_mode not in ("rag", "hybrid"):
            return ()
        named = self.rag_config.sources if self.rag_config else []
        if not named:
            return None
        return tuple(
            NamedSource(s.name, s.model_name, s.limit, s.given_threshold(), s.weight, s.metadata_filters) for s in named
        )


# --- responses ---


class SourceAttribution(BaseModel):
    segment_id: str
    storage_key: str | None = Field(description="The document the passage comes from.")
    similarity: float = Field(description="Cosine similarity of query and passage.")
    model_name: str = Field(description="The embedding model of the passage's source.")
    snippet: str | None
    metadata: dict[str, Any] | None


class DocumentInfo(BaseModel):
    path: str | None = None
    storage_key: str | None = None
    index: int = Field(ge=1, description="The n of the answer's [n].")
    title: str | None
    content_length: int = Field(description="Characters of the whole document.")
    content_preview: str | None


class SearchMetadata(BaseModel):
    strategy: str
    candidates_evaluated: int
    embedding_model: str
    index_type: str
    vector_weight: float
    keyword_weight: float
    language: str | None
    sources_searched: list[str]


class ChatCompleteResponse(BaseModel):
    response: str
    sources: list[SourceAttribution]
    documents_used: list[DocumentInfo] | None
    search_metadata: SearchMetadata | None
    retrieval_time_ms: float
    generation_time_ms: float
    total_time_ms: float
    model_used: str
    conversation_id: str | None


def chat_complete_response(
    body: ChatCompleteRequest,
    result: TurnResult,
    *,
    embedding_model: str,
    source_backends: Mapping[str, str],
    hybrid_vector_weight: float,
    total_ms: float,
) -> ChatCompleteResponse:
    """`source_backends`: each configured source's backend, "embedded" or "azure";
    `hybrid_vector_weight`: the vector ranking's weight against the keyword ranking in hybrid search."""
    index_types = {name: INDEX_TYPES[backend] for name, backend in source_backends.items()}
    content_lengths = result.retrieval.content_lengths if result.retrieval else {}
    sources, documents = [], []
    for index, source in enumerate(result.sources, start=1):  # [n] is the position in the prompt
        if source.index_name in ("attachment", "document"):
            documents.append(
                DocumentInfo(
                    path=source.fields.get("path"),
                    storage_key=source.fields.get("storage_key"),
                    index=index,
                    title=source.fields.get("title"),
                    content_length=content_lengths.get(source.id, len(source.text)),
                    content_preview=shortened(source.text, PREVIEW_CHARS),
                )
            )
        else:
            metadata = {k: v for k, v in source.fields.items() if k != "text" and v is not None}
            sources.append(
                SourceAttribution(
                    segment_id=source.id,
                    storage_key=source.fields.get("filename"),
                    similarity=round(source.score, 6),
                    model_name=embedding_model,
                    snippet=shortened(source.text, SNIPPET_CHARS),
                    metadata={
                        **metadata,
                        "source": source.index_name,
                        "index": index,
                        "index_type": index_types.get(source.index_name),
                    },
                )
            )
    timings = result.timings
    return ChatCompleteResponse(
        response=result.answer,
        sources=sources,
        documents_used=documents if body.context_mode in ("attachment", "hybrid", "document") else None,
        search_metadata=_search_metadata(result.retrieval, embedding_model, source_backends, hybrid_vector_weight),
        retrieval_time_ms=round(timings.get(Timing.FETCH_TOTAL, 0.0) * 1000, 3),
        generation_time_ms=round(timings.get(Timing.LLM_GENERATE, 0.0) * 1000, 3),
        total_time_ms=round(total_ms, 3),
        model_used=result.model.alias,
        conversation_id=body.conversation_id,
    )


def _search_metadata(
    report: RetrievalReport | None,
    embedding_model: str,
    source_backends: Mapping[str, str],
    hybrid_vector_weight: float,
) -> SearchMetadata | None:
    """How the named sources were searched; None when none was."""
    if report is None or report.strategy is None:
        return None
    backends_used = {source_backends[name] for name in report.sources_searched}
    keyword = report.strategy == "ensemble"  # the one strategy that ranks by keywords too (hybrid search)
    return SearchMetadata(
        strategy=report.strategy,
        candidates_evaluated=report.candidates_evaluated,
        embedding_model=embedding_model,
        index_type=", ".join(sorted(INDEX_TYPES[b] for b in backends_used)),
        vector_weight=round(hybrid_vector_weight / (1 + hybrid_vector_weight), 4) if keyword else 1.0,
        keyword_weight=round(1 / (1 + hybrid_vector_weight), 4) if keyword else 0.0,
        language=", ".join(sorted(ANALYZERS[b] for b in backends_used)) if keyword else None,
        sources_searched=list(report.sources_searched),
    )
