"""The request's sampling parameters, applied to an extractive answer (shared.core.answers).

No model writes an extractive answer, so what a request asks of a model's answer is done to
it here, as a model would have done it:

- `n`: n answers, the best first, then other passages relevant enough to answer alone, one
  each, best first; when the sources hold fewer, the best answer repeats (as a model sampled
  at temperature 0 repeats itself).
- `stop`: the answer ends before the first stop sequence (finish_reason "stop").
- `max_tokens`: the answer is cut to that many of the model's tokens, after its last whole
  sentence that fits, else its last whole word, and finish_reason is "length".

Sampling parameters that choose among tokens (temperature, top_p, penalties, seed) have
nothing to choose among and do not change an extractive answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.core.types import Completion, GenerationParams, Source

if TYPE_CHECKING:  # numpy and the stemmer load with the answerer, not with the core
    from shared.core.answers import ExtractiveAnswers
    from shared.core.followups import Resolved

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD_END = re.compile(r"\s+")


async def extractive_completion(
    extractive: ExtractiveAnswers,
    question: Resolved,
    sources: Sequence[Source],
    params: GenerationParams,
    tokens: Callable[[str], int],
) -> Completion:
    """The extractive answer with `n`, `stop` and `max_tokens` applied; `tokens` counts the model's tokens."""
    first = await extractive.answer(question, sources)
    choices = [first.text]
    n = params.n or 1
    if n > 1:
        choices += await _alternatives(extractive, question, sources, n - 1)
        choices += [first.text] * (n - len(choices))
    cut = [_cut(text, params.stop or (), params.max_tokens, tokens) for text in choices]
    applied = {k: v for k, v in (("n", params.n), ("stop", params.stop), ("max_tokens", params.max_tokens)) if v}
    reasons = tuple(reason for _, reason in cut)
    return replace(
        first,
        choices=tuple(text for text, _ in cut),
        finish_reason="length" if "length" in reasons else "stop",
        finish_reasons=reasons,
        parameters={**first.parameters, **applied},
    )


async def _alternatives(
    extractive: ExtractiveAnswers, question: Resolved, sources: Sequence[Source], count: int
) -> list[str]:
    """Up to `count` other answers: the relevant passages the best answer does not use, one each."""
    from shared.core.answers import cited

    used = {s.passage.text for s in await extractive.select(question, sources)}
    if not used:  # the answer declines: no passage is relevant enough to be another answer
        return []
    ranking = await extractive.rank(question.question, sources, question)
    others = [
        s
        for s in ranking.scored
        if s.fits and s.relevance >= extractive.alternative_relevance and s.passage.text not in used
    ]
    return [cited(s.passage) for s in others[:count]]


def _cut(text: str, stop: Sequence[str], max_tokens: int | None, tokens: Callable[[str], int]) -> tuple[str, str]:
    """The text ended at its first stop sequence, then fitted to max_tokens; with its finish reason."""
    ends = [text.find(s) for s in stop if s and s in text]
    if ends:
        text = text[: min(ends)].rstrip()
    if max_tokens is None or tokens(text) <= max_tokens:
        return text, "stop"
    for boundary in (_SENTENCE_END, _WORD_END):
        fitting = _longest(text, [m.start() for m in boundary.finditer(text)], max_tokens, tokens)
        if fitting:
            return fitting, "length"
    return _longest(text, list(range(1, len(text))), max_tokens, tokens), "length"


def _longest(text: str, ends: list[int], max_tokens: int, tokens: Callable[[str], int]) -> str:
    """The longest text[:end] within max_tokens ("" when none is), by binary search over the ends."""
    low, high, best = 0, len(ends) - 1, ""
    while low <= high:
        middle = (low + high) // 2
        if tokens(text[: ends[middle]]) <= max_tokens:
            best, low = text[: ends[middle]], middle + 1
        else:
            high = middle - 1
    return best
