"""The prompt a turn sends: the system prompt rendered with the turn's sources, the history
and the question, fitted to the model's context window less the answer's tokens."""

from __future__ import annotations

import logging
from dataclasses import replace

from shared.core.errors import RequestError
from shared.core.interfaces import CompiledTemplate, TemplateRenderer
from shared.core.turn import Turn
from shared.core.types import Message, PromptBudget

log = logging.getLogger(__name__)

ANSWER_RESERVE = 1024  # tokens kept for the answer when neither request nor model sets max_tokens


async def fit_prompt(turn: Turn, renderer: TemplateRenderer) -> tuple[list[Message], PromptBudget]:
    """The messages for the model: the oldest history goes first, then the lowest-ranked sources
    (the prompt is rendered again without them), leaving turn.sources those the prompt holds.
    Prompt size stays flat however long the conversation grows; RequestError when even the
    question and system prompt alone do not fit."""
    request, model, system_template = turn.request, turn.model, turn.system_template
    max_tokens = request.generation.max_tokens or model.default_parameters.get("max_tokens") or ANSWER_RESERVE
    budget = model.info.context_window - max_tokens
    history = list(request.history)
    sources = list(turn.sources)
    dropped_sources: list[str] = []

    async def system_message() -> Message:
        turn.sources = tuple(sources)
        text = await renderer.render(system_template, turn.variables()) if system_template else ""
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


def _with_instructions(text: str, template: CompiledTemplate | None, instructions: str | None) -> str:
    """The system prompt, with the client's instructions after it when the template left them out
    (an agent's own prompt): what the client asks is never dropped silently."""
    if not instructions or (template and "instructions" in template.variables_used):
        return text
    return f"{text}\n\n{instructions}" if text else instructions
