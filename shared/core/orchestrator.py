"""Turn orchestration: retrieve, build the prompt, generate, and assemble the result.

The core knows nothing of HTTP. A turn yields typed events (shared.core.types.TurnEvent)
that each API serializes in its own wire format; `answer` collects them for APIs that
respond in one piece.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

from shared.core.errors import RequestError, UpstreamError
from shared.core.interfaces import ChatModel, Retriever, TemplateSource
from shared.core.types import (
    AnswerDelta,
    Message,
    SourcesFound,
    TemplateInfo,
    TurnCompleted,
    TurnError,
    TurnEvent,
    TurnRequest,
    TurnResult,
)
from shared.templates.sandbox import TemplateRenderer

log = logging.getLogger(__name__)

FALLBACK_ANSWER = "I'm sorry, I could not complete your request right now. Please try again in a moment."


class _Timings(dict):
    @contextlib.contextmanager
    def measure(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[step] = round(time.perf_counter() - start, 6)


class Orchestrator:
    def __init__(
        self,
        *,
        retriever: Callable[[], Retriever],
        chat_model: Callable[[str | None], ChatModel],
        templates: TemplateSource,
        renderer: TemplateRenderer,
        default_system_prompt: str,
    ) -> None:
        self._retriever = retriever
        self._chat_model = chat_model
        self._templates = templates
        self._renderer = renderer
        self._default_system_prompt = default_system_prompt

    async def answer(self, turn: TurnRequest) -> TurnResult:
        async for event in self.run(turn):
            if isinstance(event, TurnCompleted):
                return event.result
        raise AssertionError("a turn always ends with TurnCompleted")

    async def run(self, turn: TurnRequest) -> AsyncIterator[TurnEvent]:
        """Yield SourcesFound (when retrieval ran), AnswerDelta, then TurnCompleted.

        Bad requests raise RequestError before the first event. Upstream failures do not
        raise: they end the turn with the fallback answer and an entry in `errors`.
        """
        timings = _Timings()
        errors: list[TurnError] = []
        model = self._chat_model(turn.generation.alias)

        sources = ()
        queried_indexes: tuple[str, ...] = ()
        with timings.measure("orchestrator.fetch_total"):
            if turn.retrieval.enabled:
                try:
                    result = await self._retriever().search(turn.question, turn.retrieval)
                    sources = result.sources
                    queried_indexes = (result.index_name,) if result.sources else ()
                except RequestError:
                    raise
                except UpstreamError as exc:
                    log.error("retrieval failed: %s", exc.code, exc_info=exc.__cause__)
                    errors.append(TurnError("retrieval", exc.code, exc.message))
                except Exception:
                    log.exception("retrieval failed unexpectedly")
                    errors.append(TurnError("retrieval", "search_failed", "The knowledge base search failed."))
        if turn.retrieval.enabled:
            yield SourcesFound(sources)

        with timings.measure("orchestrator.prompt_build"):
            system_prompt, template_info = await self._system_prompt(turn, sources)
            messages = [
                Message("system", system_prompt),
                *(Message(m.role, m.content) for m in turn.history),
                Message("user", turn.question),
            ]

        completion = None
        with timings.measure("orchestrator.llm_generate"):
            if not errors:  # without its sources, an answer could not be grounded: fall back instead
                try:
                    completion = await model.complete(messages, turn.generation)
                except UpstreamError as exc:
                    errors.append(TurnError("generation", exc.code, exc.message))
                except Exception:
                    log.exception("model %s failed unexpectedly", model.info.alias)
                    errors.append(
                        TurnError("generation", "model_failed", "The language model failed to produce an answer.")
                    )
        answer = completion.text if completion else FALLBACK_ANSWER
        if completion:
            parameters = completion.parameters
        else:
            parameters = {**model.default_parameters, **turn.generation.overrides()}
        yield AnswerDelta(answer)

        with timings.measure("orchestrator.history_build"):
            history = (*turn.history, Message("user", turn.question), Message("assistant", answer, sources))

        log.info(
            "turn answered by %s: %d source(s), %s tokens, %d error(s), %.2f s generating",
            model.info.alias,
            len(sources),
            completion.usage.total if completion else "no",
            len(errors),
            timings["orchestrator.llm_generate"],
        )
        yield TurnCompleted(
            TurnResult(
                answer=answer,
                sources=sources,
                history=history,
                system_prompt=system_prompt,
                template_info=template_info,
                model=model.info,
                usage=completion.usage if completion else None,
                parameters=parameters,
                errors=tuple(errors),
                timings=dict(timings),
                queried_indexes=queried_indexes,
            )
        )

    async def _system_prompt(self, turn: TurnRequest, sources) -> tuple[str, TemplateInfo]:
        spec = turn.prompt
        if spec.system_template is not None:
            template, origin = spec.system_template, "inline"
        elif spec.system_file is not None:
            template, origin = await self._templates.load(spec.system_file)
        else:
            template, _ = await self._templates.load(self._default_system_prompt)
            origin = "default"
        variables = {
            **spec.variables,
            # The built-in variables always win over same-named template_variables.
            "question": turn.question,
            "history": [{"role": m.role, "content": m.content} for m in turn.history],
            "user_id": turn.user_id,
            "metadata": spec.metadata,
            "sources": sources,
            "retrieval_enabled": turn.retrieval.enabled,
        }
        rendered = await self._renderer.render(template, variables, name=origin)
        return rendered.text.strip(), TemplateInfo(
            system_prompt_source=origin,
            response_template_source="default",
            variables_used=rendered.variables_used,
        )
