"""Responses of the flexible chat and RAG family, and how a stored message and its sources
look in them (the v2 sessions show messages the same way)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.core.types import Message, Source
from shared.wire.common import ErrorOut
from shared.wire.feedback import FeedbackOut, feedback_out
from shared.wire.sources import source_link


class ImageOut(BaseModel):
    url: str | None = None  # https URLs; inline images are not echoed, only noted
    detail: str | None = None
    note: str | None = Field(None, description='What an inline image was, e.g. "image/png, 48213 bytes, sha256 …".')


class ChatMessageOut(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    sources: list[dict[str, Any]] | None = None
    images: list[ImageOut] | None = None
    feedback: FeedbackOut | None = Field(None, description="The user's feedback on a stored answer.")


class ABTestingOut(BaseModel):
    experiment_name: str | None = None
    variant_name: str | None = None
    session_id: str | None = None


class TemplateInfoOut(BaseModel):
    system_prompt_source: str
    response_template_source: str
    template_variables_used: list[str]


class ModelUsed(BaseModel):
    alias: str
    provider: str
    deployment: str | None
    model: str


class TokenUsageOut(BaseModel):
    prompt: int
    completion: int
    total: int


class PromptBudgetOut(BaseModel):
    context_window: int
    max_tokens: int
    prompt_tokens: int
    dropped_history: int
    dropped_sources: list[str]


class ReasoningEffective(BaseModel):
    requested: str
    sent_effort: str | None
    provider: str
    source: str
    sanitized: bool


class SourcesSummary(BaseModel):
    assistant_turns: int
    with_sources: int  # assistant turns that cited at least one source
    without_sources: int
    total_sources: int


class SearchQueryOut(BaseModel):
    text: str
    origin: Literal["question", "request", "rewritten", "expanded", "fallback"] = Field(
        description="question; request (fetch_args query); rewritten from the conversation by the model; expanded "
        "(the question with the earlier questions' words, no model call); fallback (rewrite failed)."
    )


class ResponseMetadata(BaseModel):
    question: str
    system_prompt: str
    model_used: ModelUsed
    token_usage: TokenUsageOut | None
    parameters: dict[str, Any]
    reasoning_effort: str | None = None
    reasoning_effective: ReasoningEffective | None = None
    reasoning_tokens: int | None = None
    prompt_budget: PromptBudgetOut | None = None
    errors_present: bool
    total_sources_retrieved: int
    conversation_length: int
    is_multi_turn: bool
    conversation_sources_summary: SourcesSummary
    search_query: SearchQueryOut | None = Field(None, description="What was searched for; null without retrieval.")
    config_overrides_applied: bool
    custom_templates_used: bool
    request_metadata: dict[str, Any]
    timings: dict[str, float]


class FlexibleChatResponse(BaseModel):
    response_id: str
    answer: str
    answers: list[str] | None = Field(None, description="All completions when n > 1; answer == answers[0].")
    metadata: list[dict[str, Any]]
    history: list[ChatMessageOut]
    ab_testing: ABTestingOut | None = None
    errors: list[ErrorOut]
    data: dict[str, Any]
    template_info: TemplateInfoOut
    processing_time: float
    tokens_used: int | None
    response_metadata: ResponseMetadata
    timings: dict[str, float]


class FlexibleRagResponse(FlexibleChatResponse):
    queried_indexes: list[str]


class RetrievalOut(BaseModel):
    attempted: bool
    skipped_reason: str | None
    fetch_args_present: bool


class FlexibleChatMultimodalResponse(FlexibleChatResponse):
    retrieval: RetrievalOut


class FlexibleRagMultimodalResponse(FlexibleRagResponse):
    retrieval: RetrievalOut


def source_out(source: Source) -> dict[str, Any]:
    out = {**source.fields, "@search.score": source.score, "source_url": source_link(source.id)}
    if source.highlights:
        out["@search.highlights"] = source.highlights
    return out


def message_out(message: Message) -> ChatMessageOut:
    return ChatMessageOut(
        role=message.role,
        content=message.content,
        sources=[source_out(s) for s in message.sources] or None,
        images=[ImageOut(**i.reference().__dict__) for i in message.images] or None,
        feedback=feedback_out(message.feedback),
    )
