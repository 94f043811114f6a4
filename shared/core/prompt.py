"""The prompt a turn sends: the system prompt rendered with the turn's sources, the history
and the question, fitted to the model's context window less the answer's tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from shared.core.errors import RequestError
from shared.core.interfaces import ChatModel, CompiledTemplate, TemplateRenderer
from shared.core.turn import Turn
from shared.core.types import Message, PromptBudget

log = logging.getLogger(__name__)

ANSWER_RESERVE = 1024  # tokens kept for the answer when neither request nor model sets max_tokens
# Up to this many characters, the model's known counts are looked up on the loop (each text is
# hashed: ~0.1 ms for this size) before any thread hop; a longer prompt goes to the thread at once.
MAX_LOOKUP_CHARS = 64_000


async def fit_prompt(turn: Turn, renderer: TemplateRenderer) -> tuple[list[Message], PromptBudget]:
    """The messages for the model: the oldest history goes first, then the lowest-ranked sources
    (the prompt is rendered again without them), leaving turn.sources those the prompt holds.
    Prompt size stays flat however long the conversation grows; RequestError when even the
    question and system prompt alone do not fit.

    Each message is counted once, in a thread (tokenizing is CPU work the event loop must not
    wait on) unless the model knows every count already, and history only as far back as fits:
    the work is bounded by the request's size limits and the model's context window, not by the
    product of the two."""
    request, model, system_template = turn.request, turn.model, turn.system_template
    max_tokens = request.generation.max_tokens or model.default_parameters.get("max_tokens") or ANSWER_RESERVE
    budget = model.info.context_window - max_tokens
    sources = list(turn.sources)
    dropped_sources: list[str] = []
    # Images go with the latest question only; earlier turns keep their text.
    question = [Message("user", request.question, images=request.images), *request.after_question]

    async def system_message() -> Message:
        turn.sources = tuple(sources)
        text = await renderer.render(system_template, turn.variables()) if system_template else ""
        return Message("system", _with_instructions(text.strip(), system_template, request.prompt.instructions))

    system = await system_message()
    counted = await _counted(model, question, system, request.history, budget)
    while counted.fixed > budget and sources:  # no history fits either: it is all left out
        dropped_sources.append(sources.pop().id)
        system = await system_message()
        counted = await _counted(model, question, system, (), budget)
    fixed = counted.fixed
    if fixed > budget:
        raise RequestError(
            f"the question and system prompt take {fixed} tokens; model {model.info.alias} leaves {budget} "
            f"for the prompt ({model.info.context_window} in its context window, {max_tokens} for the answer)",
            field="question",
        )
    history, history_tokens = counted.history, counted.history_tokens
    tokens = fixed + history_tokens
    dropped_history = len(request.history) - len(history)
    if dropped_history or dropped_sources:
        log.info(
            "prompt fitted to %d tokens: %d old message(s) and %d source(s) left out",
            tokens,
            dropped_history,
            len(dropped_sources),
        )
    return [system, *history, *question], PromptBudget(
        model.info.context_window, max_tokens, tokens, dropped_history, tuple(dropped_sources)
    )


@dataclass
class _Counted:
    fixed: int  # the question's and the system prompt's tokens, the priming included
    history: list[Message]
    history_tokens: int


class _Unknown(Exception):
    """A text whose count the model does not know yet."""


async def _counted(
    model: ChatModel, question: Sequence[Message], system: Message, history: Sequence[Message], budget: int
) -> _Counted:
    """_count with the counts the model knows (lookups: on the loop, no thread hop), or else in
    one thread hop, which counts the question, the system prompt and the history that fits."""

    def known(messages: Sequence[Message]) -> int:
        tokens = model.count_known_tokens(messages)
        if tokens is None:
            raise _Unknown
        return tokens

    size = sum(len(m.content) for m in (*question, system, *history))
    if size <= MAX_LOOKUP_CHARS:
        with contextlib.suppress(_Unknown):
            return _count(known, question, system, history, budget)
    return await asyncio.to_thread(_count, model.count_tokens, question, system, history, budget)


def _count(
    count: Callable[[Sequence[Message]], int],
    question: Sequence[Message],
    system: Message,
    history: Sequence[Message],
    budget: int,
) -> _Counted:
    """The fixed part's tokens and, when it fits, the newest history that fits beside it. The
    models keep each text's count, so a conversation's earlier messages cost a lookup."""
    counter = _Counter(count)
    fixed = counter.of(question) + counter.own(system)
    kept, used = counter.newest_that_fit(history, budget - fixed) if fixed <= budget else ([], 0)
    return _Counted(fixed, kept, used)


class _Counter:
    """A model's prompt tokens, message by message (`count`: ChatModel.count_tokens or what it
    knows): a fixed priming (what it counts for no message) plus each message's own tokens."""

    def __init__(self, count: Callable[[Sequence[Message]], int]) -> None:
        self._count = count
        self.priming = count([])

    def own(self, message: Message) -> int:
        return self._count([message]) - self.priming

    def of(self, messages: Sequence[Message]) -> int:
        """The tokens of a prompt of these messages, as count_tokens says, one message at a time."""
        return self.priming + sum(self.own(m) for m in messages)

    def newest_that_fit(self, history: Sequence[Message], room: int) -> tuple[list[Message], int]:
        """The latest messages whose tokens fit in `room` (without their sources and images),
        and their tokens; counting stops at the first message that does not fit."""
        kept: list[Message] = []
        used = 0
        for message in reversed(history):
            message = replace(message, sources=(), images=())
            tokens = self.own(message)
            if used + tokens > room:
                break
            kept.append(message)
            used += tokens
        return kept[::-1], used


def _with_instructions(text: str, template: CompiledTemplate | None, instructions: str | None) -> str:
    """The system prompt, with the client's instructions after it when the template left them out
    (an agent's own prompt): what the client asks is never dropped silently."""
    if not instructions or (template and "instructions" in template.variables_used):
        return text
    return f"{text}\n\n{instructions}" if text else instructions
