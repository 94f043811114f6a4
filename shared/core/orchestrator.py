"""Turn orchestration: a turn goes through its stages, each a method below, in the order _run
calls them: start, load history, load templates, retrieve, fit the prompt, generate, shape
the answers, store, report.

The core knows nothing of HTTP. A turn yields typed events (shared.core.events.TurnEvent)
that each API serializes in its own wire format; `answer` collects them for APIs that
respond in one piece. What a turn accumulates is a shared.core.turn.Turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from shared import telemetry
from shared.core.citations import StreamedCitations, valid_citations
from shared.core.errors import RequestError
from shared.core.events import AnswerDelta, SourcesFound, ToolCallDelta, TurnAccepted, TurnCompleted, TurnEvent
from shared.core.extractive_params import extractive_completion
from shared.core.followups import FOLLOWUP_HISTORY, RewriteMode, resolve
from shared.core.interfaces import (
    ChatModel,
    CompiledTemplate,
    HistoryStore,
    Retriever,
    TemplateRenderer,
    TemplateSource,
)
from shared.core.prompt import fit_prompt
from shared.core.reasoning import effective_reasoning
from shared.core.search_query import search_query
from shared.core.source_plan import SourcePlan
from shared.core.turn import Timings, Turn
from shared.core.types import (
    Completion,
    GenerationParams,
    Message,
    Source,
    TemplateInfo,
    Timing,
    TurnError,
    TurnRequest,
    TurnResult,
)

if TYPE_CHECKING:
    from shared.core.answers import ExtractiveAnswers

log = logging.getLogger(__name__)

FALLBACK_ANSWER = "I'm sorry, I could not complete your request right now. Please try again in a moment."
SEARCH_FAILED = TurnError("retrieval", "search_failed", "The knowledge base search failed.")


class Orchestrator:
    def __init__(
        self,
        *,
        retriever: Callable[[SourcePlan | None], Retriever],
        chat_model: Callable[[str | None], ChatModel],
        templates: TemplateSource,
        renderer: TemplateRenderer,
        default_system_prompt: str,
        default_response_template: str,
        deadline_seconds: float = 200.0,
        history: Callable[[], HistoryStore] | None = None,
        history_limit: int = 50,
        query_rewrite_template: str = "query_rewrite.jinja2",
        multimodal_aliases: Callable[[], Sequence[str]] = tuple,
        extractive_answers: Callable[[str], ExtractiveAnswers | None] = lambda alias: None,
        query_rewrite: Callable[[str], RewriteMode] = lambda alias: "model",
        default_top_k: int = 3,
        answer_pool: int = 0,
    ) -> None:
        # By the request's SourcePlan: the main knowledge base for None, else one built for the request.
        self._retriever = retriever
        self._chat_model = chat_model
        self._templates = templates
        self._renderer = renderer
        self._default_system_prompt = default_system_prompt
        self._default_response_template = default_response_template
        # The Functions host cuts HTTP calls at 230 s: a turn answers (or falls back) before.
        self._deadline_seconds = deadline_seconds
        self._history = history
        self._history_limit = history_limit
        self._query_rewrite_template = query_rewrite_template
        self._multimodal_aliases = multimodal_aliases
        # By model alias: the answerer when that model's answer strategy is extractive.
        self._extractive_answers = extractive_answers
        # By model alias: how a follow-up becomes a search query (shared.core.followups.RewriteMode).
        self._query_rewrite = query_rewrite
        self._default_top_k = default_top_k
        # Extractive answers: chunks searched, of which the top_k that answer best are the sources (0: no reranking).
        self._answer_pool = answer_pool

    async def answer(self, request: TurnRequest) -> TurnResult:
        # aclosing: the turn (and its span) ends here, not whenever the generator is collected.
        async with contextlib.aclosing(self.run(request)) as events:
            async for event in events:
                if isinstance(event, TurnCompleted):
                    return event.result
        raise AssertionError("a turn always ends with TurnCompleted")

    async def run(self, request: TurnRequest, *, stream: bool = False) -> AsyncGenerator[TurnEvent]:
        """The turn (see _run) inside one span, whose attributes say what it did."""
        span = telemetry.start_span("turn", attributes={"turn.stream": stream})
        try:
            async for event in self._run(request, stream, span):
                yield event
        except Exception as exc:  # not GeneratorExit: a caller that stops reading is no failure
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            span.end()

    async def _run(self, request: TurnRequest, stream: bool, span: Any) -> AsyncIterator[TurnEvent]:
        """Yield TurnAccepted, SourcesFound (when retrieval ran), AnswerDelta, then TurnCompleted.

        TurnAccepted comes before retrieval, so that a stream's first bytes leave at once.
        Without `stream`, one AnswerDelta carries the whole answer; with it, one per piece the
        model generates, raw: the response template shapes the answer in TurnCompleted only
        (a template may use the whole answer). Bad requests (unknown model, missing or invalid
        template, missing session, ...) raise RequestError before TurnAccepted; a request
        refused later (a search filter the index rejects, a template that breaks a limit while
        rendering) raises after it. Upstream failures, even
        mid-stream, do not raise: they end the turn with the fallback answer and `errors`.
        """
        turn = self._start(request, stream, span)
        await self._load_history(turn)
        # One way to understand a follow-up, whatever API it came through: before search and answer.
        turn.resolved = resolve(turn.request.question, turn.request.history[-FOLLOWUP_HISTORY:])
        await self._load_templates(turn)
        yield TurnAccepted(turn.model.info)
        await self._retrieve(turn)
        await self._fit_prompt(turn)
        if turn.request.retrieval.enabled:
            yield SourcesFound(turn.sources)  # the sources the prompt holds, after fitting
        async for event in self._generate(turn, stream):
            yield event
        await self._shape_answers(turn)
        if not stream:
            yield AnswerDelta(turn.answers[0])
        await self._store(turn)
        yield TurnCompleted(self._report(turn, span))

    def _start(self, request: TurnRequest, stream: bool, span: Any) -> Turn:
        """The turn with its retriever and model; RequestError when the request asks what they cannot do."""
        if stream and (request.generation.n or 1) > 1:
            raise RequestError("streaming returns one answer: ask for n = 1 or turn streaming off", field="n")
        # Before the model: a plan naming what this deployment does not have is refused first.
        retriever = self._retriever(request.retrieval.plan)
        model = self._chat_model(request.generation.alias)
        if request.images and not model.info.supports_multimodal:
            raise RequestError(
                f"model {model.info.alias!r} does not take images: choose one that does with "
                "override_config.llm (GET /api/v2/models lists supports_multimodal per model)",
                field="override_config.llm",
                try_models=list(self._multimodal_aliases()),
            )
        extractive = self._extractive(request, model.info.alias)
        if extractive is None:  # the model answers: what it cannot take is refused before any work
            model.check_params(request.generation)
        return Turn(
            request,
            model,
            retriever,
            time.monotonic() + self._deadline_seconds,
            session=self._session(request),
            timings=Timings(trace.set_span_in_context(span) if span.is_recording() else None),
            extractive=extractive,
        )

    def _extractive(self, request: TurnRequest, alias: str) -> ExtractiveAnswers | None:
        """The passages' answerer, when they answer this turn: the model's answer strategy is
        extractive, there are sources, and the request asks for prose (JSON output and tools need
        the model). Instructions from the client (system and developer messages) go to the model,
        which can follow them; quoting passages could not (docs/parameters.md)."""
        if not request.retrieval.enabled or not request.generation.free_text or request.prompt.instructions:
            return None
        return self._extractive_answers(alias)

    def _session(self, request: TurnRequest) -> tuple[str, str] | None:
        """(owner, session) when this turn continues a stored conversation."""
        if self._history and request.session_id and request.session_owner:
            return request.session_owner, request.session_id
        return None

    async def _load_history(self, turn: Turn) -> None:
        """The stored conversation, put before the request's own history."""
        if not turn.session:
            return
        owner, session_id = turn.session
        with turn.timings.measure(Timing.HISTORY_BUILD), turn.failures("history", "history store"):
            async with asyncio.timeout(turn.remaining()):
                turn.stored = await self._history().load(owner, session_id, self._history_limit)
        request = turn.request
        if request.session_must_exist and not turn.stored.messages and not turn.errors:
            raise RequestError(f"no session {session_id!r} for this user", field="session_id", status=404)
        turn.request = replace(request, history=(*turn.stored.messages, *request.history))

    async def _load_templates(self, turn: Turn) -> None:
        prompt = turn.request.prompt
        with turn.timings.measure(Timing.PROMPT_BUILD):
            turn.system_template = await self._template(
                turn, prompt.system_template, prompt.system_file, self._default_system_prompt
            )
            turn.response_template = await self._template(
                turn, prompt.response_template, prompt.response_file, self._default_response_template
            )

    async def _template(
        self, turn: Turn, inline: str | None, name: str | None, default_name: str
    ) -> CompiledTemplate | None:
        """The inline template, the named one, or the default; None if the store failed."""
        if inline is not None:
            return self._renderer.compile(inline, origin="inline")
        with turn.failures("prompt", "template store"):
            async with asyncio.timeout(turn.remaining()):
                text, origin = await self._templates.load(name or default_name)
            return self._renderer.compile(text, origin=origin if name else "default")
        return None

    async def _retrieve(self, turn: Turn) -> None:
        """The sources for the prompt, searched for with the turn's search query (when retrieval is
        on and no stage failed before)."""
        request = turn.request
        with turn.timings.measure(Timing.FETCH_TOTAL):
            if not request.retrieval.enabled or turn.errors:
                return
            mode = self._query_rewrite(turn.model.info.alias)
            turn.search_query = await search_query(
                turn, self._templates, self._renderer, self._query_rewrite_template, mode
            )
            spec = replace(request.retrieval, query=turn.search_query.text)
            wanted = self._default_top_k if spec.top_k is None else spec.top_k
            reranked = turn.extractive is not None and spec.plan is None and 0 < wanted < self._answer_pool
            if reranked:
                spec = replace(spec, top_k=self._answer_pool)
            with turn.failures("retrieval", "retrieval", unexpected=SEARCH_FAILED):
                async with asyncio.timeout(turn.remaining()):
                    turn.search = await turn.retriever.search(request.question, spec, request.user_id)
            if turn.search is not None and reranked:
                turn.search = replace(turn.search, sources=await self._reranked(turn, turn.search.sources, wanted))
            if turn.search is not None:
                turn.sources = turn.search.sources
                turn.queried_indexes = (turn.search.index_name,) if turn.search.sources else ()

    @staticmethod
    async def _reranked(turn: Turn, sources: tuple[Source, ...], count: int) -> tuple[Source, ...]:
        """The `count` sources whose passages answer the question best (the search's first ones if that fails)."""
        assert turn.extractive is not None and turn.resolved is not None
        with turn.model_failures():  # the passages' embeddings may fail or be slow like a model
            async with asyncio.timeout(turn.remaining()):
                return await turn.extractive.rerank(turn.resolved, sources, count)
        return sources[:count]

    async def _fit_prompt(self, turn: Turn) -> None:
        with turn.timings.measure(Timing.PROMPT_BUILD):
            turn.messages, turn.budget = await fit_prompt(turn, self._renderer)

    async def _generate(self, turn: Turn, stream: bool) -> AsyncIterator[AnswerDelta | ToolCallDelta]:
        """The answer in turn.completion: the model's, or the passages' that answer it (a model
        whose answer strategy is extractive). Streamed, its pieces as they come."""
        request = turn.request
        turn.reasoning = effective_reasoning(request.generation.reasoning_effort, turn.model.info)
        params = replace(request.generation, reasoning_effort=turn.reasoning.sent_effort)
        with turn.timings.measure(Timing.LLM_GENERATE):
            if turn.errors:  # after a failed stage (no prompt, no sources) an answer could not be grounded
                return
            if turn.extractive:
                with turn.model_failures():  # its embeddings may fail or be slow like a model
                    async with asyncio.timeout(turn.remaining()):
                        turn.completion = await extractive_completion(
                            turn.extractive,
                            turn.resolved,
                            turn.sources,
                            params,
                            self._answer_tokens(turn.model),
                        )
                if stream and turn.completion:
                    yield AnswerDelta(turn.completion.text)
            elif stream:
                async for event in self._streamed(turn, params):
                    yield event
            else:
                with turn.model_failures():
                    async with asyncio.timeout(turn.remaining()):
                        turn.completion = await turn.model.complete(turn.messages, params)

    @staticmethod
    def _answer_tokens(model: ChatModel) -> Callable[[str], int]:
        """An answer's length in the model's tokens (its message's count less an empty one's)."""
        empty = model.count_tokens([Message("assistant", "")])
        return lambda text: model.count_tokens([Message("assistant", text)]) - empty

    async def _streamed(self, turn: Turn, params: GenerationParams) -> AsyncIterator[AnswerDelta | ToolCallDelta]:
        """The model's answer as events, the whole Completion in turn.completion at the end."""
        # An [n] naming no source never reaches the caller (in prose: JSON's "[3]" is data).
        citations = StreamedCitations(len(turn.sources), check=params.free_text)
        async for piece in self._pieces(turn, params):
            if isinstance(piece, Completion):
                turn.completion = piece
            elif isinstance(piece, ToolCallDelta):
                yield piece
            elif text := citations.feed(piece):
                yield AnswerDelta(text)
        if tail := citations.flush():
            yield AnswerDelta(tail)

    async def _pieces(self, turn: Turn, params: GenerationParams) -> AsyncIterator[str | ToolCallDelta | Completion]:
        """The model's pieces, each awaited within the turn's deadline; failures end it in `errors`."""
        pieces = turn.model.stream(turn.messages, params)
        try:
            with turn.model_failures():
                while True:
                    try:
                        piece = await asyncio.wait_for(anext(pieces), turn.remaining())
                    except StopAsyncIteration:
                        return
                    yield piece
        finally:
            await pieces.aclose()

    async def _shape_answers(self, turn: Turn) -> None:
        """The answers as the caller gets them: the fallback when there is none, [n] naming no source
        removed (in prose), then shaped by the response template."""
        answers = turn.completion.choices if turn.completion else (FALLBACK_ANSWER,)
        if turn.request.generation.free_text:
            answers = tuple(valid_citations(a, len(turn.sources)) for a in answers)
        with turn.timings.measure(Timing.RESPONSE_FORMAT):
            if turn.response_template:
                answers = tuple(
                    [await self._renderer.render(turn.response_template, turn.variables(answer=a)) for a in answers]
                )
        turn.answers = answers

    async def _store(self, turn: Turn) -> None:
        """The conversation with this exchange at its end, appended to the stored one when the turn
        continues a session. A failed turn is not kept: the next one starts clean."""
        request = turn.request
        with turn.timings.measure(Timing.HISTORY_BUILD):
            exchange = (
                Message("user", request.question, images=request.images),
                Message("assistant", turn.answers[0], turn.sources),
            )
            turn.history = (*request.history, *exchange)
            if turn.session and not turn.errors:
                # On failure the answer stands; the caller learns from errors[] that it was not saved.
                with turn.failures("history", "history store"):
                    async with asyncio.timeout(turn.remaining()):
                        await self._history().append(*turn.session, exchange, turn.stored)

    def _report(self, turn: Turn, span: Any) -> TurnResult:
        """What the turn did: in the log, on its span, and as the result."""
        completion, request = turn.completion, turn.request
        log.info(
            "turn answered by %s: %d source(s), %s tokens, %d error(s), %.2f s generating",
            turn.model.info.alias,
            len(turn.sources),
            completion.usage.total if completion else "no",
            len(turn.errors),
            turn.timings[Timing.LLM_GENERATE],
        )
        if span.is_recording():
            turn.describe(span)
        system_template, response_template = turn.system_template, turn.response_template
        templates = [t for t in (system_template, response_template) if t]
        return TurnResult(
            answer=turn.answers[0],
            answers=turn.answers,
            sources=turn.sources,
            history=turn.history,
            system_prompt=turn.messages[0].content,
            template_info=TemplateInfo(
                system_prompt_source=system_template.origin if system_template else "default",
                response_template_source=response_template.origin if response_template else "default",
                variables_used=tuple(sorted({v for t in templates for v in t.variables_used})),
            ),
            model=turn.model.info,
            usage=completion.usage if completion else None,
            parameters=completion.parameters
            if completion
            else {**turn.model.default_parameters, **request.generation.overrides()},
            reasoning=turn.reasoning,
            reasoning_tokens=completion.reasoning_tokens if completion else None,
            budget=turn.budget,
            errors=tuple(turn.errors),
            timings=dict(turn.timings),
            queried_indexes=turn.queried_indexes,
            search=turn.search,
            search_query=turn.search_query,
            finish_reason=completion.finish_reason if completion else None,
            finish_reasons=completion.finish_reasons if completion else (),
            tool_calls=completion.tool_calls if completion else (),
        )
