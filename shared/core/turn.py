"""One turn as it goes through the orchestrator's stages: what it accumulates, how long each
stage took (also a child span of the turn's span), and what a failing backend leaves in its
errors instead of an exception.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from shared import telemetry
from shared.core.errors import RequestError, UpstreamError
from shared.core.followups import Resolved
from shared.core.interfaces import ChatModel, CompiledTemplate, Retriever
from shared.core.types import (
    Completion,
    Conversation,
    Message,
    PromptBudget,
    Reasoning,
    SearchQuery,
    SearchResult,
    Source,
    Timing,
    TurnError,
    TurnRequest,
    TurnStage,
)

if TYPE_CHECKING:
    from shared.core.answers import ExtractiveAnswers

log = logging.getLogger(__name__)

DEADLINE_MESSAGE = "The answer took too long and was stopped before the time limit."

# Each timed step is also a child span of the turn's span (OpenTelemetry; none unless collected).
_SPANS = {
    Timing.HISTORY_BUILD: "history",
    Timing.PROMPT_BUILD: "prompt",
    Timing.FETCH_TOTAL: "retrieval",
    Timing.LLM_GENERATE: "generation",
    Timing.RESPONSE_FORMAT: "response_format",
}


class Timings(dict):
    def __init__(self, parent: Any = None) -> None:
        super().__init__()
        self.parent = parent  # the turn span's context

    def measure(self, step: Timing) -> _Measured:
        return _Measured(self, step)


class _Measured:
    """One measure of a step (a class, not a generator: a turn takes seven of them)."""

    __slots__ = ("_span", "_start", "_step", "_timings")

    def __init__(self, timings: Timings, step: Timing) -> None:
        self._timings, self._step = timings, step

    def __enter__(self) -> None:
        parent = self._timings.parent  # None: the turn's span records nothing, nor would its children
        self._span = trace.INVALID_SPAN if parent is None else telemetry.start_span(_SPANS[self._step], context=parent)
        self._start = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        # A step measured twice (prompt_build: load, then render) adds up.
        timings, key = self._timings, self._step.value
        timings[key] = round(timings.get(key, 0.0) + time.perf_counter() - self._start, 6)
        self._span.end()


@dataclass
class Turn:
    """What one turn accumulates as it goes through the stages, in the order they fill it in."""

    request: TurnRequest  # with the stored history in front of the request's, once loaded
    model: ChatModel
    retriever: Retriever
    deadline: float  # time.monotonic() by which the turn must have its answer
    session: tuple[str, str] | None = None  # (owner, session id) when the turn continues a stored conversation
    extractive: ExtractiveAnswers | None = None  # the passages' answerer, when they answer rather than the model
    timings: Timings = field(default_factory=Timings)
    errors: list[TurnError] = field(default_factory=list)
    stored: Conversation = Conversation()
    resolved: Resolved | None = None  # the question as understood with the conversation (shared.core.followups)
    system_template: CompiledTemplate | None = None
    response_template: CompiledTemplate | None = None
    search_query: SearchQuery | None = None
    search: SearchResult | None = None
    sources: tuple[Source, ...] = ()  # those the prompt holds, once fitted
    queried_indexes: tuple[str, ...] = ()
    messages: list[Message] = field(default_factory=list)  # the prompt
    budget: PromptBudget | None = None
    reasoning: Reasoning | None = None
    completion: Completion | None = None
    answers: tuple[str, ...] = ()  # as the caller gets them
    history: tuple[Message, ...] = ()  # the conversation with this exchange at its end

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

    @contextlib.contextmanager
    def failures(self, stage: TurnStage, backend: str, unexpected: TurnError | None = None) -> Iterator[None]:
        """A backend that fails or passes the deadline ends up in the turn's errors (and the log);
        other exceptions propagate, unless `unexpected` stands for them. RequestError always does."""
        try:
            yield
        except TimeoutError:
            log.error("%s passed the turn's deadline", backend)
            self.errors.append(TurnError(stage, "deadline_exceeded", DEADLINE_MESSAGE))
        except UpstreamError as exc:
            log.error("%s failed: %s", backend, exc.code, exc_info=exc.__cause__)
            self.errors.append(TurnError(stage, exc.code, exc.message))
        except RequestError:
            raise
        except Exception:
            if unexpected is None:
                raise
            log.exception("%s failed unexpectedly", backend)
            self.errors.append(unexpected)

    @contextlib.contextmanager
    def model_failures(self) -> Iterator[None]:
        """A failing model call ends up in the turn's errors (and the log), never as an exception."""
        try:
            yield
        except TimeoutError:
            log.error("model %s passed the turn's deadline", self.model.info.alias)
            self.errors.append(TurnError("generation", "deadline_exceeded", DEADLINE_MESSAGE))
        except UpstreamError as exc:
            self.errors.append(TurnError("generation", exc.code, exc.message))
        except Exception:
            log.exception("model %s failed unexpectedly", self.model.info.alias)
            self.errors.append(
                TurnError("generation", "model_failed", "The language model failed to produce an answer.")
            )

    def describe(self, span: Any) -> None:
        """What the turn did, as span attributes: model, tokens, sources, failures."""
        attributes: dict[str, Any] = {
            "gen_ai.request.model": self.model.info.model,
            "turn.model_alias": self.model.info.alias,
            "turn.sources": len(self.sources),
            "turn.errors": len(self.errors),
            "turn.session": bool(self.request.session_id),
            "turn.correlation_id": telemetry.correlation_id.get() or "",
        }
        if self.completion is not None:
            attributes["gen_ai.usage.input_tokens"] = self.completion.usage.prompt
            attributes["gen_ai.usage.output_tokens"] = self.completion.usage.completion
        if self.search_query is not None:
            attributes["turn.search_query_origin"] = self.search_query.origin
        if self.errors:
            attributes["turn.error_stages"] = [e.stage for e in self.errors]
            span.set_status(trace.Status(trace.StatusCode.ERROR, self.errors[0].code))
        span.set_attributes(attributes)
