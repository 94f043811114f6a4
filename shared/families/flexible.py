"""The flexible chat and RAG family's mapping (shared.http.turns.TurnMapping): the caller, the
A/B variant assigned to them and whose stored session the turn continues; the request as the
core's TurnRequest, a TurnResult as the response (a failed turn is a 200 with its errors), a
turn's events as Server-Sent Events."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shared.core.events import AnswerDelta, SourcesFound, TurnAccepted, TurnCompleted, TurnEvent
from shared.core.types import (
    GenerationParams,
    Image,
    Message,
    PromptSpec,
    RetrievalSpec,
    SearchResult,
    TurnRequest,
    TurnResult,
)
from shared.experiment_definitions import Variant
from shared.experiments import assigned_variant
from shared.identity import Principal, SessionFamily
from shared.wire import sse
from shared.wire.common import errors_out
from shared.wire.flexible_requests import (
    ChatMessage,
    FlexibleChatMultimodalRequest,
    FlexibleChatRequest,
    FlexibleRagMultimodalRequest,
    FlexibleRagRequest,
)
from shared.wire.flexible_responses import (
    ABTestingOut,
    ChatMessageOut,
    FlexibleChatMultimodalResponse,
    FlexibleChatResponse,
    FlexibleRagMultimodalResponse,
    FlexibleRagResponse,
    ModelUsed,
    PromptBudgetOut,
    ReasoningEffective,
    ResponseMetadata,
    RetrievalOut,
    SearchQueryOut,
    SourcesSummary,
    TemplateInfoOut,
    TokenUsageOut,
    message_out,
    source_out,
)


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


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


def _sources_summary(history: list[ChatMessageOut]) -> SourcesSummary:
    answers = [m for m in history if m.role == "assistant"]
    cited = [m for m in answers if m.sources]
    return SourcesSummary(
        assistant_turns=len(answers),
        with_sources=len(cited),
        without_sources=len(answers) - len(cited),
        total_sources=sum(len(m.sources) for m in cited),
    )


if TYPE_CHECKING:
    from shared.http.endpoints import Call


# The four /flexible-* endpoints, by the end of their path: /api/v2/flexible-<name>. A Literal,
# not an enum: the routes name a flavor without importing this module (cold start).
FlavorName = Literal["chat", "chat-mm", "rag", "rag-mm"]


@dataclass(frozen=True)
class Flavor:
    """One of the four /flexible-* endpoints: its wire shapes and how its turns run."""

    request: type[FlexibleChatRequest]
    response: type[FlexibleChatResponse]
    multi_turn: bool  # a follow-up question searches with a query rewritten from the conversation
    multimodal: bool


FLAVORS: dict[FlavorName, Flavor] = {
    "chat": Flavor(FlexibleChatRequest, FlexibleChatResponse, multi_turn=True, multimodal=False),
    "chat-mm": Flavor(FlexibleChatMultimodalRequest, FlexibleChatMultimodalResponse, multi_turn=True, multimodal=True),
    "rag": Flavor(FlexibleRagRequest, FlexibleRagResponse, multi_turn=False, multimodal=False),
    "rag-mm": Flavor(FlexibleRagMultimodalRequest, FlexibleRagMultimodalResponse, multi_turn=False, multimodal=True),
}


@dataclass
class FlexibleTurn:
    """A request to a /flexible-* endpoint (or the MCP tool `ask`), with what the mapping needs
    beyond its body."""

    flavor: Flavor
    body: FlexibleChatRequest
    user_id: str
    variant: Variant | None = None  # the A/B variant assigned to this user
    images: tuple[Image, ...] = ()
    session_owner: str | None = None  # whose stored conversation ab_testing.session_id names
    streams: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    started: float = 0.0  # when the orchestrator got the turn (perf_counter)

    @classmethod
    def of(cls, call: Call[FlexibleChatRequest], name: FlavorName) -> FlexibleTurn:
        """The call's turn, as the caller it asserts (ab_testing.user_id) where that is trusted."""
        body = call.body
        who = call.principal(body.ab_testing.user_id if body.ab_testing else None)
        return cls.for_caller(FLAVORS[name], body, who, streams=call.wants_stream(body.stream))

    @classmethod
    def for_caller(cls, flavor: Flavor, body: FlexibleChatRequest, who: Principal, *, streams: bool) -> FlexibleTurn:
        """RequestError for images that are missing or too large (the -mm flavors)."""
        images = body.images() if isinstance(body, FlexibleChatMultimodalRequest | FlexibleRagMultimodalRequest) else ()
        ab_testing = body.ab_testing
        variant = assigned_variant(ab_testing.experiment_name if ab_testing else None, who.experiment_key)
        session_id = ab_testing.session_id if ab_testing else None
        owner = who.session_owner(SessionFamily.V2, session_id) if session_id else None
        return cls(flavor, body, who.search_principal, variant, images, owner, streams)

    def turn_request(self) -> TurnRequest:
        turn = self._turn_request()
        self.started = time.perf_counter()  # what comes next is the orchestrator's: timings.orchestrator_call
        return turn

    def _turn_request(self) -> TurnRequest:
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

    def response(self, result: TurnResult) -> FlexibleChatResponse:
        """The response; a failed stage is in its `errors`, with the fallback answer (a 200)."""
        return self._response(result, time.perf_counter() - self.started)

    def _response(self, result: TurnResult, orchestrator_call: float) -> FlexibleChatResponse:
        started = time.perf_counter()
        body = self.body
        history = [message_out(m) for m in result.history]
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
            errors=errors_out(result.errors),
            data=fetcher_data(result.search),
            template_info=TemplateInfoOut(
                system_prompt_source=result.template_info.system_prompt_source,
                response_template_source=result.template_info.response_template_source,
                template_variables_used=list(result.template_info.variables_used),
            ),
            processing_time=0.0,  # set below, once the response is built
            tokens_used=usage.total if usage else None,
            response_metadata=self._response_metadata(result, history, timings),
            timings=timings,
            **extra,
        )
        build_response = round(time.perf_counter() - started, 6)
        response.timings["build_response"] = response.response_metadata.timings["build_response"] = build_response
        response.processing_time = round(orchestrator_call + build_response, 6)
        return response

    def _response_metadata(
        self, result: TurnResult, history: list[ChatMessageOut], timings: dict[str, float]
    ) -> ResponseMetadata:
        body, usage = self.body, result.usage
        return ResponseMetadata(
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
        )

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

    async def frames(self, events: AsyncIterator[TurnEvent]) -> AsyncIterator[str]:
        """A turn's events as SSE frames: `accepted`, `sources`, `delta`s, then `final` with the
        same body as the non-streaming response, or `error` with that body when a stage failed."""
        async for event in events:
            if isinstance(event, TurnAccepted):  # before retrieval: the stream's first bytes
                yield sse.event("accepted", {"model": event.model.alias})
            elif isinstance(event, SourcesFound):
                yield sse.event("sources", {"metadata": [source_out(s) for s in event.sources]})
            elif isinstance(event, AnswerDelta):
                yield sse.event("delta", {"text": event.text})
            elif isinstance(event, TurnCompleted):
                response = self.response(event.result)
                yield sse.event("error" if response.errors else "final", response.model_dump(mode="json"))

    def stream_error(self, status: int, error: dict[str, Any]) -> str:
        """A failure after the stream started: `error` with the ErrorBody and the status it would have had."""
        return sse.event("error", {**error, "status": status})
