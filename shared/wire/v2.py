"""Wire shapes of the v2 API family (flexible chat and RAG): /api/v2/flexible-*.

Requests are validated here (schema violations become 422); mapping to and from the
core's own types happens in the functions at the end of this module.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.config import Variant
from shared.core.errors import RequestError
from shared.core.types import (
    AnswerDelta,
    GenerationParams,
    Image,
    Message,
    PromptSpec,
    ReasoningEffort,
    RetrievalSpec,
    SearchResult,
    SessionPage,
    Source,
    SourcesFound,
    TurnCompleted,
    TurnEvent,
    TurnRequest,
    TurnResult,
)
from shared.wire import sse
from shared.wire.feedback import FeedbackOut, feedback_out
from shared.wire.sources import source_link

MAX_N = 10
MAX_MESSAGE_CHARS = 100_000  # per history message: the token budget trims, but counting costs too
MAX_IMAGES = 10
MAX_IMAGE_BYTES = 5_000_000  # decoded size of one inline image


class _Strict(BaseModel):
    # Unknown fields are refused rather than silently ignored: a misspelt option must not
    # look like it worked. Strict: JSON types as documented ("1" is not a number).
    model_config = ConfigDict(extra="forbid", strict=True)


class _Query(BaseModel):
    # Query strings carry text only: values are converted ("20" is a page size).
    model_config = ConfigDict(extra="forbid")


class ChatMessage(_Strict):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)
    sources: list[dict[str, Any]] | None = None


class AzureSearchFetcherArgs(_Strict):
    query: str | None = Field(None, description="Search text; defaults to the question. '*' matches everything.")
    filter: str | None = Field(None, description="OData filter, e.g. \"category eq 'warranty'\".")
    top_k: int | None = Field(None, description="Number of sources; 0 skips retrieval.")
    include_total_count: bool = False
    facets: list[str] | None = Field(None, description='e.g. ["filename,count:5", "tags"]')
    highlight_fields: list[str] | None = None
    select_fields: list[str] | None = None
    vector_search: bool | None = Field(None, description="Hybrid (text + vector) when true, full-text when false.")


class FetchArgs(_Strict):
    AzureSearchFetcher: AzureSearchFetcherArgs = Field(default_factory=AzureSearchFetcherArgs)


SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
SessionId = Annotated[
    str,
    Field(
        pattern=SESSION_ID_PATTERN,
        description="Chosen by the client: letters, digits and . _ : @ -, up to 128 characters.",
    ),
]


class ABTesting(_Strict):
    user_id: str = Field(min_length=1, max_length=256)
    session_id: SessionId | None = Field(None, description="Continue (or start) this stored conversation.")
    experiment_name: str | None = Field(None, description="Assigns a variant when the deployment configures one.")


class ModelParams(_Strict):
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    stop: list[str] | None = Field(None, max_length=4)
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    n: int | None = Field(None, ge=1, le=MAX_N)


ModelAlias = Annotated[str, Field(min_length=1, max_length=128)]


class ReasoningConfig(_Strict):
    effort: ReasoningEffort


class OverrideConfig(BaseModel):
    # The contract calls override_config forward-looking: unknown keys are accepted, not acted on.
    model_config = ConfigDict(extra="allow", strict=True)

    llm: ModelAlias | ModelParams | None = Field(None, description="A model alias, or (legacy) parameters.")
    model: ModelAlias | None = Field(None, description="A model alias; `llm` wins when both are given.")
    params: ModelParams | None = None
    n: int | None = Field(None, ge=1, le=MAX_N, description="Completions to return; wins over params.n.")
    reasoning_effort: ReasoningEffort | None = None
    reasoning: ReasoningConfig | None = None

    def generation(self) -> GenerationParams:
        alias = self.llm if isinstance(self.llm, str) else self.model
        legacy = self.llm if isinstance(self.llm, ModelParams) else None
        values: dict[str, Any] = {}
        for params in (legacy, self.params):  # `params` wins over the legacy form
            if params is not None:
                values.update(params.model_dump(exclude_none=True))
        if self.n is not None:  # override_config.n > override_config.params.n > the alias's default
            values["n"] = self.n
        effort = self.reasoning_effort or (self.reasoning.effort if self.reasoning else None)
        return GenerationParams.of({**values, "alias": alias, "reasoning_effort": effort})


class FlexibleChatRequest(_Strict):
    question: str = Field(min_length=1, max_length=20_000)
    fetch_args: FetchArgs = Field(default_factory=FetchArgs)
    history: list[ChatMessage] = Field(default_factory=list, max_length=200)
    ab_testing: ABTesting | None = None
    system_prompt_template: str | None = None
    system_prompt_file: str | None = Field(None, description="A template name in the prompts folder or container.")
    response_template: str | None = Field(None, description="Inline Jinja2 shaping the answer; `answer` is set.")
    response_template_file: str | None = None
    template_variables: dict[str, Any] = Field(default_factory=dict)
    override_config: OverrideConfig = Field(default_factory=OverrideConfig)
    metadata: dict[str, Any] = Field(default_factory=dict)
    stream: bool = Field(False, description="Answer as Server-Sent Events (also with Accept: text/event-stream).")

    def freeform_metadata(self) -> dict[str, Any]:
        """`metadata` as templates and the response see it."""
        return self.metadata

    @model_validator(mode="after")
    def _one_form_per_template(self) -> FlexibleChatRequest:
        for inline, file in (
            ("system_prompt_template", "system_prompt_file"),
            ("response_template", "response_template_file"),
        ):
            if getattr(self, inline) is not None and getattr(self, file) is not None:
                raise ValueError(f"give {inline} or {file}, not both")
        return self


class FlexibleRagRequest(FlexibleChatRequest):
    skip_knowledge_base: bool = Field(False, description="Answer without searching the knowledge base.")


class ImageIn(_Strict):
    url: str | None = Field(None, description="An https URL the model fetches.")
    data_url: str | None = Field(None, description="data:image/<png|jpeg|gif|webp>;base64,<bytes>")
    detail: Literal["low", "high", "auto"] | None = None

    @model_validator(mode="after")
    def _one_https_url_or_image_data(self) -> ImageIn:
        if (self.url is None) == (self.data_url is None):
            raise ValueError("give url or data_url, exactly one")
        if self.url is not None and not self.url.lower().startswith("https://"):
            raise ValueError("url must be https; send other images inline as data_url")
        if self.data_url is not None and not _DATA_URL.match(self.data_url):
            raise ValueError("data_url must be data:image/(png|jpeg|gif|webp);base64,<base64 data>")
        return self

    def decoded_size(self) -> int:
        payload = (self.data_url or "").partition(",")[2]
        return len(payload) * 3 // 4 - payload[-2:].count("=")


_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$")


class MultimodalMetadata(BaseModel):
    # The rest of `metadata` stays freeform; only `images` has a shape.
    model_config = ConfigDict(extra="allow", strict=True)

    images: list[ImageIn] = Field(default_factory=list, max_length=MAX_IMAGES)


class _Multimodal(BaseModel):
    """The -mm endpoints: images in metadata.images, for the latest user turn."""

    metadata: MultimodalMetadata = Field(default_factory=MultimodalMetadata)

    def freeform_metadata(self) -> dict[str, Any]:
        return self.metadata.model_dump(exclude={"images"})

    def images(self) -> tuple[Image, ...]:
        """The images, or RequestError: 400 when there are none, 413 when one is too large."""
        if not self.metadata.images:
            raise RequestError("at least one image is required in metadata.images", field="metadata.images")
        for n, image in enumerate(self.metadata.images):
            if image.decoded_size() > MAX_IMAGE_BYTES:
                raise RequestError(
                    f"metadata.images[{n}] is over the {MAX_IMAGE_BYTES // 1_000_000} MB limit for inline images",
                    field=f"metadata.images.{n}.data_url",
                    status=413,
                )
        return tuple(Image(i.url or i.data_url, i.detail) for i in self.metadata.images)


class FlexibleChatMultimodalRequest(_Multimodal, FlexibleChatRequest):
    pass


class FlexibleRagMultimodalRequest(_Multimodal, FlexibleRagRequest):
    pass


# --- responses ---


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


class ErrorOut(BaseModel):
    stage: str
    code: str
    message: str


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
    origin: Literal["question", "request", "rewritten", "fallback"] = Field(
        description="question; request (fetch_args query); rewritten from the conversation; fallback (rewrite failed)."
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


# --- mapping ---


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


def source_out(source: Source) -> dict[str, Any]:
    out = {**source.fields, "@search.score": source.score, "source_url": source_link(source.id)}
    if source.highlights:
        out["@search.highlights"] = source.highlights
    return out


def fetcher_data(search: SearchResult | None) -> dict[str, Any]:
    """The raw search outcome for rich clients: index, count, facets and highlights."""
    if search is None:
        return {}
    data: dict[str, Any] = {"index": search.index_name}
    if search.count is not None:
        data["count"] = search.count
    if search.facets is not None:
        data["facets"] = search.facets
    highlights = {s.id: s.highlights for s in search.sources if s.highlights}
    if highlights:
        data["highlights"] = highlights
    return {"AzureSearchFetcher": data}


def _history_in(messages: list[ChatMessage]) -> tuple[Message, ...]:
    # Sources a client sends back with old turns are echoed, not trusted as context.
    return tuple(Message(m.role, m.content) for m in messages)


def _message_out(message: Message) -> ChatMessageOut:
    return ChatMessageOut(
        role=message.role,
        content=message.content,
        sources=[source_out(s) for s in message.sources] or None,
        images=[ImageOut(**i.reference().__dict__) for i in message.images] or None,
        feedback=feedback_out(message.feedback),
    )


def _sources_summary(history: list[ChatMessageOut]) -> SourcesSummary:
    answers = [m for m in history if m.role == "assistant"]
    cited = [m for m in answers if m.sources]
    return SourcesSummary(
        assistant_turns=len(answers),
        with_sources=len(cited),
        without_sources=len(answers) - len(cited),
        total_sources=sum(len(m.sources) for m in cited),
    )


@dataclass(frozen=True)
class Flavor:
    """One of the four /flexible-* endpoints: its wire shapes and how its turns run."""

    request: type[FlexibleChatRequest]
    response: type[FlexibleChatResponse]
    multi_turn: bool  # a follow-up question searches with a query rewritten from the conversation
    multimodal: bool


FLAVORS = {  # by endpoint: /api/v2/flexible-<name>
    "chat": Flavor(FlexibleChatRequest, FlexibleChatResponse, multi_turn=True, multimodal=False),
    "chat-mm": Flavor(FlexibleChatMultimodalRequest, FlexibleChatMultimodalResponse, multi_turn=True, multimodal=True),
    "rag": Flavor(FlexibleRagRequest, FlexibleRagResponse, multi_turn=False, multimodal=False),
    "rag-mm": Flavor(FlexibleRagMultimodalRequest, FlexibleRagMultimodalResponse, multi_turn=False, multimodal=True),
}


@dataclass(frozen=True)
class FlexibleCall:
    """A request to a /flexible-* endpoint, with what the mapping needs beyond its body."""

    flavor: Flavor
    body: FlexibleChatRequest
    user_id: str
    variant: Variant | None = None  # the A/B variant assigned to this user
    images: tuple[Image, ...] = ()
    session_owner: str | None = None  # whose stored conversation ab_testing.session_id names

    def turn_request(self) -> TurnRequest:
        body, variant = self.body, self.variant
        fetcher = body.fetch_args.AzureSearchFetcher
        generation = body.override_config.generation()
        system_file, response_file = body.system_prompt_file, body.response_template_file
        if variant is not None:
            # The variant's model and parameters, under what the request set itself.
            generation = generation.with_defaults(GenerationParams.of({**variant.params, "alias": variant.llm}))
            if body.system_prompt_template is None:
                system_file = system_file or variant.system_prompt_file
            if body.response_template is None:
                response_file = response_file or variant.response_template_file
        return TurnRequest(
            session_id=body.ab_testing.session_id if body.ab_testing else None,
            question=body.question,
            history=_history_in(body.history),
            retrieval=RetrievalSpec(
                enabled=not getattr(body, "skip_knowledge_base", False),
                query=fetcher.query,
                rewrite=self.flavor.multi_turn,
                top_k=fetcher.top_k,
                vector_search=fetcher.vector_search,
                select_fields=_tuple(fetcher.select_fields),
                filter=fetcher.filter,
                include_total_count=fetcher.include_total_count,
                facets=_tuple(fetcher.facets),
                highlight_fields=_tuple(fetcher.highlight_fields),
            ),
            prompt=PromptSpec(
                system_template=body.system_prompt_template,
                system_file=system_file,
                response_template=body.response_template,
                response_file=response_file,
                variables=body.template_variables,
                metadata=self._metadata(),
            ),
            generation=generation,
            user_id=self.user_id,
            session_owner=self.session_owner,
            images=self.images,
        )

    def _metadata(self) -> dict[str, Any]:
        """The request's metadata as templates and the response see it: images by reference only."""
        metadata = self.body.freeform_metadata()
        if not self.images:
            return metadata
        return {**metadata, "images": [asdict(i.reference()) for i in self.images]}

    def response(self, result: TurnResult, orchestrator_call: float) -> FlexibleChatResponse:
        started = time.perf_counter()
        body = self.body
        history = [_message_out(m) for m in result.history]
        # The request's own history keeps whatever sources the client attached to it.
        # history = stored messages + the request's + this turn's two.
        offset = len(history) - 2 - len(body.history)
        for out, sent in zip(history[offset:], body.history, strict=False):
            out.sources = sent.sources
        timings = {**result.timings, "orchestrator_call": round(orchestrator_call, 6)}
        usage = result.usage
        extra: dict[str, Any] = {}
        if issubclass(self.flavor.response, FlexibleRagResponse):
            extra["queried_indexes"] = list(result.queried_indexes)
        if self.flavor.multimodal:
            extra["retrieval"] = self._retrieval_block()
        response = self.flavor.response(
            response_id=str(uuid.uuid4()),
            answer=result.answer,
            answers=list(result.answers) if len(result.answers) > 1 else None,
            metadata=[source_out(s) for s in result.sources],
            history=history,
            ab_testing=ABTestingOut(
                experiment_name=body.ab_testing.experiment_name,
                variant_name=self.variant.name if self.variant else None,
                session_id=body.ab_testing.session_id,
            )
            if body.ab_testing
            else None,
            errors=[ErrorOut(stage=e.stage, code=e.code, message=e.message) for e in result.errors],
            data=fetcher_data(result.search),
            template_info=TemplateInfoOut(
                system_prompt_source=result.template_info.system_prompt_source,
                response_template_source=result.template_info.response_template_source,
                template_variables_used=list(result.template_info.variables_used),
            ),
            processing_time=0.0,  # set below, once the response is built
            tokens_used=usage.total if usage else None,
            response_metadata=ResponseMetadata(
                question=body.question,
                system_prompt=result.system_prompt,
                model_used=ModelUsed(
                    alias=result.model.alias,
                    provider=result.model.provider,
                    deployment=result.model.deployment,
                    model=result.model.model,
                ),
                token_usage=TokenUsageOut(prompt=usage.prompt, completion=usage.completion, total=usage.total)
                if usage
                else None,
                parameters=result.parameters,
                reasoning_effort=result.reasoning.requested if result.reasoning else None,
                reasoning_effective=ReasoningEffective(**result.reasoning.__dict__) if result.reasoning else None,
                reasoning_tokens=result.reasoning_tokens,
                prompt_budget=PromptBudgetOut(
                    **{**result.budget.__dict__, "dropped_sources": list(result.budget.dropped_sources)}
                )
                if result.budget
                else None,
                errors_present=bool(result.errors),
                total_sources_retrieved=len(result.sources),
                conversation_length=len(result.history),
                is_multi_turn=len(result.history) > 2,
                conversation_sources_summary=_sources_summary(history),
                search_query=SearchQueryOut(**result.search_query.__dict__) if result.search_query else None,
                config_overrides_applied=bool(body.override_config.model_dump(exclude_none=True)),
                custom_templates_used=result.template_info.custom,
                request_metadata=self._metadata(),
                timings=timings,
            ),
            timings=timings,
            **extra,
        )
        build_response = round(time.perf_counter() - started, 6)
        response.timings["build_response"] = response.response_metadata.timings["build_response"] = build_response
        response.processing_time = round(orchestrator_call + build_response, 6)
        return response

    def _retrieval_block(self) -> RetrievalOut:
        body = self.body
        skipped = None
        if getattr(body, "skip_knowledge_base", False):
            skipped = "skip_knowledge_base"
        elif body.fetch_args.AzureSearchFetcher.top_k == 0:
            skipped = "top_k_zero"
        return RetrievalOut(
            attempted=skipped is None, skipped_reason=skipped, fetch_args_present="fetch_args" in body.model_fields_set
        )

    async def events(self, events: AsyncIterator[TurnEvent], started: float) -> AsyncIterator[str]:
        """A turn's events as SSE frames: `sources`, `delta`s, then `final` with the same body
        as the non-streaming response, or `error` with that body when a stage failed."""
        async for event in events:
            if isinstance(event, SourcesFound):
                yield sse.event("sources", {"metadata": [source_out(s) for s in event.sources]})
            elif isinstance(event, AnswerDelta):
                yield sse.event("delta", {"text": event.text})
            elif isinstance(event, TurnCompleted):
                response = self.response(event.result, time.perf_counter() - started)
                yield sse.event("error" if response.errors else "final", response.model_dump(mode="json"))


STREAM_FAILURE = sse.event("error", {"detail": "Internal server error."})


# --- /api/v2/sessions ---


class SessionsQuery(_Query):
    user_id: str | None = Field(None, min_length=1, max_length=256, description="Whose sessions (no tokens).")
    page_size: int = Field(20, ge=1, le=100)
    continuation: str | None = Field(None, max_length=4096, description="From the previous page's response.")


class SessionQuery(_Query):
    user_id: str | None = Field(None, min_length=1, max_length=256, description="Whose session (no tokens).")


class SessionOut(BaseModel):
    session_id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int


class SessionsPage(BaseModel):
    sessions: list[SessionOut]
    continuation: str | None = Field(description="Pass as ?continuation= for the next page; null on the last.")


class SessionHistory(BaseModel):
    session_id: str
    messages: list[ChatMessageOut]


def sessions_page(page: SessionPage) -> SessionsPage:
    return SessionsPage(sessions=[SessionOut(**s.__dict__) for s in page.sessions], continuation=page.continuation)


def session_history(session_id: str, messages: tuple[Message, ...]) -> SessionHistory:
    return SessionHistory(session_id=session_id, messages=[_message_out(m) for m in messages])


# --- GET /api/v2/models ---


class ModelsQuery(_Query):
    validate_: bool = Field(False, alias="validate", description="Add configuration checks per model.")
    deep: bool = Field(False, description="With validate: also build each client and make one cheap call.")
    filter_unhealthy: bool = Field(False, description="With validate: leave out models that failed.")


class ModelValidation(BaseModel):
    healthy: bool
    checks: list[str]
    problems: list[str]


class ModelEntry(BaseModel):
    alias: str
    provider: str
    deployment: str | None
    model: str
    supports_multimodal: bool
    reasoning: bool
    context_window: int
    default: bool
    validation: ModelValidation | None = None


class ModelsResponse(BaseModel):
    default: str
    models: list[ModelEntry]
