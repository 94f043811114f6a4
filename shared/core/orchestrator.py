"""Turn orchestration: retrieve, build the prompt, generate, and assemble the result.

The core knows nothing of HTTP. A turn yields typed events (shared.core.types.TurnEvent)
that each API serializes in its own wire format; `answer` collects them for APIs that
respond in one piece.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from shared import telemetry
from shared.core.citations import StreamedCitations, valid_citations
from shared.core.errors import RequestError, UpstreamError
from shared.core.interfaces import ChatModel, HistoryStore, Retriever, TemplateSource
from shared.core.reasoning import effective_reasoning
from shared.core.types import (
    AnswerDelta,
    Completion,
    Conversation,
    GenerationParams,
    Message,
    PromptBudget,
    SearchQuery,
    SearchResult,
    Source,
    SourcesFound,
    TemplateInfo,
    ToolCallDelta,
    TurnCompleted,
    TurnError,
    TurnEvent,
    TurnRequest,
    TurnResult,
)
from shared.templates.sandbox import CompiledTemplate, TemplateRenderer

if TYPE_CHECKING:
    from shared.core.answers import ExtractiveAnswers

log = logging.getLogger(__name__)

FALLBACK_ANSWER = "I'm sorry, I could not complete your request right now. Please try again in a moment."
DEADLINE_MESSAGE = "The answer took too long and was stopped before the time limit."
ANSWER_RESERVE = 1024  # tokens kept for the answer when neither request nor model sets max_tokens
REWRITE_HISTORY = 6  # latest messages the query rewrite sees: a follow-up refers to recent turns
REWRITE_MAX_TOKENS = 48
REWRITE_MAX_CHARS = 300  # longer output is an answer, not a query: search with the question instead


# Each timed step is also a child span of the turn's span (OpenTelemetry; none unless collected).
_SPANS = {
    "orchestrator.history_build": "history",
    "orchestrator.prompt_build": "prompt",
    "orchestrator.fetch_total": "retrieval",
    "orchestrator.llm_generate": "generation",
    "orchestrator.response_format": "response_format",
}


class _Timings(dict):
    def __init__(self, parent: Any = None) -> None:
        super().__init__()
        self.parent = parent  # the turn span's context

    @contextlib.contextmanager
    def measure(self, step: str) -> Iterator[None]:
        span = telemetry.start_span(_SPANS.get(step, step), context=self.parent)
        start = time.perf_counter()
        try:
            yield
        finally:  # a step measured twice (prompt_build: load, then render) adds up
            self[step] = round(self.get(step, 0.0) + time.perf_counter() - start, 6)
            span.end()


@dataclass
class _Turn:
    """What one turn accumulates as it goes through the stages."""

    request: TurnRequest
    model: ChatModel
    retriever: Retriever
    deadline: float  # time.monotonic() by which the turn must have its answer
    timings: _Timings = field(default_factory=_Timings)
    errors: list[TurnError] = field(default_factory=list)
    sources: tuple[Source, ...] = ()
    search: SearchResult | None = None
    search_query: SearchQuery | None = None
    queried_indexes: tuple[str, ...] = ()

    def variables(self, **extra: Any) -> dict[str, Any]:
        spec = self.request.prompt
        return {
            **spec.variables,
            **({"instructions": spec.instructions} if spec.instructions else {}),
            # The built-in variables always win over same-named template_variables.
            "question": self.request.question,
            "history": [{"role": m.role, "content": m.content} for m in self.request.history],
            "user_id": self.request.user_id,
            "metadata": spec.metadata,
            "sources": self.sources,
            "retrieval_enabled": self.request.retrieval.enabled,
            **extra,
        }

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class Orchestrator:
    def __init__(
        self,
        *,
        retriever: Callable[[], Retriever],
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
    ) -> None:
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

    async def answer(self, request: TurnRequest, *, retriever: Retriever | None = None) -> TurnResult:
        # aclosing: the turn (and its span) ends here, not whenever the generator is collected.
        async with contextlib.aclosing(self.run(request, retriever=retriever)) as events:
            async for event in events:
                if isinstance(event, TurnCompleted):
                    return event.result
        raise AssertionError("a turn always ends with TurnCompleted")

    async def run(
        self, request: TurnRequest, *, stream: bool = False, retriever: Retriever | None = None
    ) -> AsyncIterator[TurnEvent]:
        """The turn (see _run) inside one span, whose attributes say what it did."""
        span = telemetry.start_span("turn", attributes={"turn.stream": stream})
        try:
            async for event in self._run(request, stream, retriever, span):
                yield event
        except Exception as exc:  # not GeneratorExit: a caller that stops reading is no failure
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            span.end()

    async def _run(
        self, request: TurnRequest, stream: bool, retriever: Retriever | None, span: Any
    ) -> AsyncIterator[TurnEvent]:
        """Yield SourcesFound (when retrieval ran), AnswerDelta, then TurnCompleted.

        `retriever` replaces the configured one for this turn (an API that assembles its
        context per request).

        Without `stream`, one AnswerDelta carries the whole answer; with it, one per piece the
        model generates, raw: the response template shapes the answer in TurnCompleted only
        (a template may use the whole answer). Bad requests (unknown model, missing or invalid
        template, ...) raise RequestError before any work is spent. Upstream failures, even
        mid-stream, do not raise: they end the turn with the fallback answer and `errors`.
        """
        if stream and (request.generation.n or 1) > 1:
            raise RequestError("streaming returns one answer: ask for n = 1 or turn streaming off", field="n")
        turn = _Turn(
            request,
            self._chat_model(request.generation.alias),
            retriever or self._retriever(),
            time.monotonic() + self._deadline_seconds,
            timings=_Timings(trace.set_span_in_context(span) if span.is_recording() else None),
        )
        if request.images and not turn.model.info.supports_multimodal:
            raise RequestError(
                f"model {turn.model.info.alias!r} does not take images: choose one that does with "
                "override_config.llm (GET /api/v2/models lists supports_multimodal per model)",
                field="override_config.llm",
                try_models=list(self._multimodal_aliases()),
            )
        prompt = request.prompt
        session = self._session(request)
        stored = Conversation()
        if session:
            with turn.timings.measure("orchestrator.history_build"):
                stored = await self._stored_history(turn, *session)
            if request.session_must_exist and not stored.messages and not turn.errors:
                raise RequestError(f"no session {session[1]!r} for this user", field="session_id", status=404)
            request = turn.request = replace(request, history=(*stored.messages, *request.history))

        with turn.timings.measure("orchestrator.prompt_build"):
            system_template = await self._template(
                turn, prompt.system_template, prompt.system_file, self._default_system_prompt
            )
            response_template = await self._template(
                turn, prompt.response_template, prompt.response_file, self._default_response_template
            )

        with turn.timings.measure("orchestrator.fetch_total"):
            if request.retrieval.enabled and not turn.errors:
                await self._retrieve(turn)

        with turn.timings.measure("orchestrator.prompt_build"):
            messages, budget = await self._fit_prompt(turn, system_template)
        system_prompt = messages[0].content
        if request.retrieval.enabled:
            yield SourcesFound(turn.sources)  # the sources the prompt holds, after fitting

        reasoning = effective_reasoning(request.generation.reasoning_effort, turn.model.info)
        params = replace(request.generation, reasoning_effort=reasoning.sent_effort)
        completion = None
        # Passages answer a reader's question in prose; JSON output and tool calls need the model.
        prose = params.free_text
        extractive = self._extractive_answers(turn.model.info.alias) if request.retrieval.enabled and prose else None
        # An [n] naming no source never reaches the caller (in prose: JSON's "[3]" is data).
        citations = StreamedCitations(len(turn.sources), check=prose)
        with turn.timings.measure("orchestrator.llm_generate"):
            # After a failed stage (no prompt, no sources) an answer could not be grounded: fall back.
            if not turn.errors and extractive:
                with self._model_failures(turn):  # its embeddings may fail or be slow like a model
                    async with asyncio.timeout(turn.remaining()):
                        completion = await extractive.answer(request.question, turn.sources, turn.search_query.text)
                if stream and completion:
                    yield AnswerDelta(completion.text)
            elif not turn.errors and stream:
                async for piece in self._stream(turn, messages, params):
                    if isinstance(piece, Completion):
                        completion = piece
                    elif isinstance(piece, ToolCallDelta):
                        yield piece
                    elif text := citations.feed(piece):
                        yield AnswerDelta(text)
                if tail := citations.flush():
                    yield AnswerDelta(tail)
            elif not turn.errors:
                completion = await self._generate(turn, messages, params)

        answers = completion.choices if completion else (FALLBACK_ANSWER,)
        if prose:
            answers = tuple(valid_citations(a, len(turn.sources)) for a in answers)
        with turn.timings.measure("orchestrator.response_format"):
            if response_template:
                answers = tuple(
                    [await self._renderer.render(response_template, turn.variables(answer=a)) for a in answers]
                )
        answer = answers[0]
        if not stream:
            yield AnswerDelta(answer)

        with turn.timings.measure("orchestrator.history_build"):
            exchange = (
                Message("user", request.question, images=request.images),
                Message("assistant", answer, turn.sources),
            )
            history = (*request.history, *exchange)
            if session and not turn.errors:  # a failed turn is not kept: the next one starts clean
                await self._store(turn, *session, exchange, stored)

        log.info(
            "turn answered by %s: %d source(s), %s tokens, %d error(s), %.2f s generating",
            turn.model.info.alias,
            len(turn.sources),
            completion.usage.total if completion else "no",
            len(turn.errors),
            turn.timings["orchestrator.llm_generate"],
        )
        if span.is_recording():
            _describe(span, turn, completion)
        templates = [t for t in (system_template, response_template) if t]
        yield TurnCompleted(
            TurnResult(
                answer=answer,
                answers=answers,
                sources=turn.sources,
                history=history,
                system_prompt=system_prompt,
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
                reasoning=reasoning,
                reasoning_tokens=completion.reasoning_tokens if completion else None,
                budget=budget,
                errors=tuple(turn.errors),
                timings=dict(turn.timings),
                queried_indexes=turn.queried_indexes,
                search=turn.search,
                search_query=turn.search_query,
                finish_reason=completion.finish_reason if completion else None,
                tool_calls=completion.tool_calls if completion else (),
            )
        )

    def _session(self, request: TurnRequest) -> tuple[str, str] | None:
        """(owner, session) when this turn continues a stored conversation."""
        if self._history and request.session_id and request.session_owner:
            return request.session_owner, request.session_id
        return None

    async def _stored_history(self, turn: _Turn, owner: str, session_id: str) -> Conversation:
        with self._history_failures(turn):
            async with asyncio.timeout(turn.remaining()):
                return await self._history().load(owner, session_id, self._history_limit)
        return Conversation()

    async def _store(
        self, turn: _Turn, owner: str, session_id: str, exchange: tuple[Message, ...], loaded: Conversation
    ) -> None:
        # On failure the answer stands; the caller learns from errors[] that it was not saved.
        with self._history_failures(turn):
            async with asyncio.timeout(turn.remaining()):
                await self._history().append(owner, session_id, exchange, loaded)

    @staticmethod
    @contextlib.contextmanager
    def _history_failures(turn: _Turn) -> Iterator[None]:
        try:
            yield
        except TimeoutError:
            log.error("history store passed the turn's deadline")
            turn.errors.append(TurnError("history", "deadline_exceeded", DEADLINE_MESSAGE))
        except UpstreamError as exc:
            log.error("history store failed: %s", exc.code, exc_info=exc.__cause__)
            turn.errors.append(TurnError("history", exc.code, exc.message))

    async def _fit_prompt(
        self, turn: _Turn, system_template: CompiledTemplate | None
    ) -> tuple[list[Message], PromptBudget]:
        """The messages for the model, fitted to its context window less the answer's tokens:
        the oldest history goes first, then the lowest-ranked sources (the prompt is rendered
        again without them). Prompt size stays flat however long the conversation grows."""
        request, model = turn.request, turn.model
        max_tokens = request.generation.max_tokens or model.default_parameters.get("max_tokens") or ANSWER_RESERVE
        budget = model.info.context_window - max_tokens
        history = list(request.history)
        sources = list(turn.sources)
        dropped_sources: list[str] = []

        async def system_message() -> Message:
            turn.sources = tuple(sources)
            text = await self._renderer.render(system_template, turn.variables()) if system_template else ""
            return Message("system", _with_instructions(text.strip(), system_template, request.prompt.instructions))

        def assemble(system: Message) -> list[Message]:
            # Images go with the latest question only; earlier turns keep their text.
            latest = Message("user", request.question, images=request.images)
            earlier = (replace(m, sources=(), images=()) for m in history)
            return [system, *earlier, latest, *request.after_question]

        system = await system_message()
        tokens = model.count_tokens(assemble(system))
        while tokens > budget and history:
            history.pop(0)
            tokens = model.count_tokens(assemble(system))
        while tokens > budget and sources:
            dropped_sources.append(sources.pop().id)
            system = await system_message()
            tokens = model.count_tokens(assemble(system))
        if tokens > budget:
            raise RequestError(
                f"the question and system prompt take {tokens} tokens; model {model.info.alias} leaves {budget} "
                f"for the prompt ({model.info.context_window} in its context window, {max_tokens} for the answer)",
                field="question",
            )
        dropped_history = len(request.history) - len(history)
        if dropped_history or dropped_sources:
            log.info(
                "prompt fitted to %d tokens: %d old message(s) and %d source(s) left out",
                tokens,
                dropped_history,
                len(dropped_sources),
            )
        return assemble(system), PromptBudget(
            model.info.context_window, max_tokens, tokens, dropped_history, tuple(dropped_sources)
        )

    async def _template(
        self, turn: _Turn, inline: str | None, name: str | None, default_name: str
    ) -> CompiledTemplate | None:
        """The inline template, the named one, or the default; None if the store failed."""
        if inline is not None:
            return self._renderer.compile(inline, origin="inline")
        try:
            async with asyncio.timeout(turn.remaining()):
                text, origin = await self._templates.load(name or default_name)
        except TimeoutError:
            log.error("template store passed the turn's deadline")
            turn.errors.append(TurnError("prompt", "deadline_exceeded", DEADLINE_MESSAGE))
            return None
        except UpstreamError as exc:
            log.error("template store failed: %s", exc.code, exc_info=exc.__cause__)
            turn.errors.append(TurnError("prompt", exc.code, exc.message))
            return None
        return self._renderer.compile(text, origin=origin if name else "default")

    async def _search_query(self, turn: _Turn) -> SearchQuery:
        """What to search for: the request's query, the question, or on a follow-up (with
        `rewrite`) a standalone query the model writes from the conversation."""
        spec, question = turn.request.retrieval, turn.request.question
        if spec.query:
            return SearchQuery(spec.query, "request")
        if not (spec.rewrite and turn.request.history):
            return SearchQuery(question, "question")
        try:
            async with asyncio.timeout(turn.remaining()):
                text, origin = await self._templates.load(self._query_rewrite_template)
            recent = turn.request.history[-REWRITE_HISTORY:]
            prompt = await self._renderer.render(
                self._renderer.compile(text, origin=origin),
                turn.variables(history=[{"role": m.role, "content": m.content} for m in recent]),
            )
            params = GenerationParams(temperature=0.0, max_tokens=REWRITE_MAX_TOKENS, stop=("\n",))
            async with asyncio.timeout(turn.remaining()):
                completion = await turn.model.complete([Message("user", prompt)], params)
        except (UpstreamError, RequestError, TimeoutError) as exc:
            log.warning("query rewrite failed (%s): searching with the question", type(exc).__name__)
            return SearchQuery(question, "fallback")
        query = _first_line(completion.text)
        if not query or len(query) > REWRITE_MAX_CHARS:
            log.info("query rewrite gave no usable query: searching with the question")
            return SearchQuery(question, "fallback")
        if _same_query(query, question):  # the rewrite kept the question: say so
            return SearchQuery(question, "question")
        return SearchQuery(query, "rewritten")

    async def _retrieve(self, turn: _Turn) -> None:
        turn.search_query = await self._search_query(turn)
        try:
            async with asyncio.timeout(turn.remaining()):
                result = await turn.retriever.search(
                    turn.request.question,
                    replace(turn.request.retrieval, query=turn.search_query.text),
                    turn.request.user_id,
                )
        except RequestError:
            raise
        except TimeoutError:
            log.error("retrieval passed the turn's deadline")
            turn.errors.append(TurnError("retrieval", "deadline_exceeded", DEADLINE_MESSAGE))
            return
        except UpstreamError as exc:
            log.error("retrieval failed: %s", exc.code, exc_info=exc.__cause__)
            turn.errors.append(TurnError("retrieval", exc.code, exc.message))
            return
        except Exception:
            log.exception("retrieval failed unexpectedly")
            turn.errors.append(TurnError("retrieval", "search_failed", "The knowledge base search failed."))
            return
        turn.sources = result.sources
        turn.search = result
        turn.queried_indexes = (result.index_name,) if result.sources else ()

    async def _stream(
        self, turn: _Turn, messages: list[Message], params: GenerationParams
    ) -> AsyncIterator[str | Completion]:
        """The model's pieces, each awaited within the turn's deadline; failures end it in `errors`."""
        pieces = turn.model.stream(messages, params)
        try:
            with self._model_failures(turn):
                while True:
                    try:
                        piece = await asyncio.wait_for(anext(pieces), turn.remaining())
                    except StopAsyncIteration:
                        return
                    yield piece
        finally:
            await pieces.aclose()

    async def _generate(self, turn: _Turn, messages: list[Message], params: GenerationParams) -> Completion | None:
        with self._model_failures(turn):
            async with asyncio.timeout(turn.remaining()):
                return await turn.model.complete(messages, params)
        return None

    @staticmethod
    @contextlib.contextmanager
    def _model_failures(turn: _Turn) -> Iterator[None]:
        """A failing model call ends up in the turn's errors (and the log), never as an exception."""
        try:
            yield
        except TimeoutError:
            log.error("model %s passed the turn's deadline", turn.model.info.alias)
            turn.errors.append(TurnError("generation", "deadline_exceeded", DEADLINE_MESSAGE))
        except UpstreamError as exc:
            turn.errors.append(TurnError("generation", exc.code, exc.message))
        except Exception:
            log.exception("model %s failed unexpectedly", turn.model.info.alias)
            turn.errors.append(
                TurnError("generation", "model_failed", "The language model failed to produce an answer.")
            )


def _with_instructions(text: str, template: CompiledTemplate | None, instructions: str | None) -> str:
    """The system prompt, with the client's instructions after it when the template left them out
    (an agent's own prompt): what the client asks is never dropped silently."""
    if not instructions or (template and "instructions" in template.variables_used):
        return text
    return f"{text}\n\n{instructions}" if text else instructions


def _first_line(text: str) -> str:
    """The model's query: its first non-empty line, without quotes or a label ("Query:", "user:")."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    label, colon, rest = line.partition(":")
    if colon and label.strip().lower() in {"query", "search query", "user", "standalone query"}:
        line = rest
    return line.strip("\"'` ")


def _same_query(a: str, b: str) -> bool:
    """Whether two queries differ only in case, spacing or final punctuation."""
    return " ".join(a.casefold().split()).rstrip("?.!") == " ".join(b.casefold().split()).rstrip("?.!")


def _describe(span: Any, turn: _Turn, completion: Completion | None) -> None:
    """What the turn did, as span attributes: model, tokens, sources, failures."""
    attributes: dict[str, Any] = {
        "gen_ai.request.model": turn.model.info.model,
        "turn.model_alias": turn.model.info.alias,
        "turn.sources": len(turn.sources),
        "turn.errors": len(turn.errors),
        "turn.session": bool(turn.request.session_id),
        "turn.correlation_id": telemetry.correlation_id.get() or "",
    }
    if completion is not None:
        attributes["gen_ai.usage.input_tokens"] = completion.usage.prompt
        attributes["gen_ai.usage.output_tokens"] = completion.usage.completion
    if turn.search_query is not None:
        attributes["turn.search_query_origin"] = turn.search_query.origin
    if turn.errors:
        attributes["turn.error_stages"] = [e.stage for e in turn.errors]
        span.set_status(trace.Status(trace.StatusCode.ERROR, turn.errors[0].code))
    span.set_attributes(attributes)
