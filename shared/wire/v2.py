"""Wire shapes of the v2 API family (seed 001): /api/v2/flexible-*.

Requests are validated here (schema violations become 422); mapping to and from the
core's own types happens in the functions at the end of this module.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.core.types import (
    AnswerDelta,
    GenerationParams,
    Message,
    PromptSpec,
    ReasoningEffort,
    RetrievalSpec,
    SearchResult,
    Source,
    SourcesFound,
    TurnCompleted,
    TurnEvent,
    TurnRequest,
    TurnResult,
)

MAX_N = 10


class _Strict(BaseModel):
    # Unknown fields are refused rather than silently ignored: a misspelt option must not
    # look like it worked.
    model_config = ConfigDict(extra="forbid")


class ChatMessage(_Strict):
    role: Literal["user", "assistant"]
    content: str
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


class ABTesting(_Strict):
    user_id: str
    session_id: str | None = None
    experiment_name: str | None = None


class ModelParams(_Strict):
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    stop: list[str] | None = Field(None, max_length=4)
    seed: int | None = None
    n: int | None = Field(None, ge=1, le=MAX_N)


class ReasoningConfig(_Strict):
    effort: ReasoningEffort


class OverrideConfig(BaseModel):
    # Seed 001 calls override_config forward-looking: unknown keys are accepted, not acted on.
    model_config = ConfigDict(extra="allow")

    llm: str | ModelParams | None = Field(None, description="A model alias, or (legacy) parameters.")
    model: str | None = Field(None, description="A model alias; `llm` wins when both are given.")
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
        if "stop" in values:
            values["stop"] = tuple(values["stop"])
        effort = self.reasoning_effort or (self.reasoning.effort if self.reasoning else None)
        return GenerationParams(alias=alias, reasoning_effort=effort, **values)


class FlexibleRagRequest(_Strict):
    question: str = Field(min_length=1, max_length=20_000)
    skip_knowledge_base: bool = False
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

    @model_validator(mode="after")
    def _one_form_per_template(self) -> FlexibleRagRequest:
        for inline, file in (
            ("system_prompt_template", "system_prompt_file"),
            ("response_template", "response_template_file"),
        ):
            if getattr(self, inline) is not None and getattr(self, file) is not None:
                raise ValueError(f"give {inline} or {file}, not both")
        return self


# --- responses ---


class ChatMessageOut(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    sources: list[dict[str, Any]] | None = None


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
    config_overrides_applied: bool
    custom_templates_used: bool
    request_metadata: dict[str, Any]
    timings: dict[str, float]


class FlexibleRagResponse(BaseModel):
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
    queried_indexes: list[str]


# --- mapping ---


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


def source_out(source: Source) -> dict[str, Any]:
    out = {**source.fields, "@search.score": source.score}
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


def turn_request(body: FlexibleRagRequest, user_id: str | None) -> TurnRequest:
    fetcher = body.fetch_args.AzureSearchFetcher
    return TurnRequest(
        session_id=body.ab_testing.session_id if body.ab_testing else None,
        question=body.question,
        history=_history_in(body.history),
        retrieval=RetrievalSpec(
            enabled=not body.skip_knowledge_base,
            query=fetcher.query,
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
            system_file=body.system_prompt_file,
            response_template=body.response_template,
            response_file=body.response_template_file,
            variables=body.template_variables,
            metadata=body.metadata,
        ),
        generation=body.override_config.generation(),
        user_id=user_id,
    )


def flexible_rag_response(
    body: FlexibleRagRequest, result: TurnResult, orchestrator_call: float
) -> FlexibleRagResponse:
    started = time.perf_counter()
    history = [
        ChatMessageOut(role=m.role, content=m.content, sources=[source_out(s) for s in m.sources] or None)
        for m in result.history
    ]
    # The request's own history keeps whatever sources the client attached to it.
    # history = stored messages + the request's + this turn's two.
    offset = len(history) - 2 - len(body.history)
    for out, sent in zip(history[offset:], body.history, strict=False):
        out.sources = sent.sources
    timings = {**result.timings, "orchestrator_call": round(orchestrator_call, 6)}
    usage = result.usage
    overrides = body.override_config
    response = FlexibleRagResponse(
        response_id=str(uuid.uuid4()),
        answer=result.answer,
        answers=list(result.answers) if len(result.answers) > 1 else None,
        metadata=[source_out(s) for s in result.sources],
        history=history,
        ab_testing=(
            ABTestingOut(experiment_name=body.ab_testing.experiment_name, session_id=body.ab_testing.session_id)
            if body.ab_testing
            else None
        ),
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
            config_overrides_applied=bool(overrides.model_dump(exclude_none=True)),
            custom_templates_used=result.template_info.custom,
            request_metadata=body.metadata,
            timings=timings,
        ),
        timings=timings,
        queried_indexes=list(result.queried_indexes),
    )
    build_response = round(time.perf_counter() - started, 6)
    response.timings["build_response"] = response.response_metadata.timings["build_response"] = build_response
    response.processing_time = round(orchestrator_call + build_response, 6)
    return response


async def flexible_rag_events(
    body: FlexibleRagRequest, events: AsyncIterator[TurnEvent], started: float
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A turn's events as SSE (name, payload): `sources`, `delta`s, then `final` with the same
    body as the non-streaming response, or `error` with that body when a stage failed."""
    async for event in events:
        if isinstance(event, SourcesFound):
            yield "sources", {"metadata": [source_out(s) for s in event.sources]}
        elif isinstance(event, AnswerDelta):
            yield "delta", {"text": event.text}
        elif isinstance(event, TurnCompleted):
            response = flexible_rag_response(body, event.result, time.perf_counter() - started)
            yield ("error" if response.errors else "final"), response.model_dump(mode="json")


# --- GET /api/v2/models ---


class ModelsQuery(_Strict):
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
