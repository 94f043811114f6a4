"""What a turn searches for: the request's query, the question, or on a follow-up (with
`rewrite`) a standalone query the model writes from the conversation."""

from __future__ import annotations

import asyncio
import logging

from shared.core.errors import RequestError, UpstreamError
from shared.core.interfaces import TemplateRenderer, TemplateSource
from shared.core.turn import Turn
from shared.core.types import GenerationParams, Message, SearchQuery

log = logging.getLogger(__name__)

REWRITE_HISTORY = 6  # latest messages the query rewrite sees: a follow-up refers to recent turns
REWRITE_MAX_TOKENS = 48
REWRITE_MAX_CHARS = 300  # longer output is an answer, not a query: search with the question instead


async def search_query(
    turn: Turn, templates: TemplateSource, renderer: TemplateRenderer, rewrite_template: str
) -> SearchQuery:
    """The turn's search query; a rewrite that fails or gives no usable query searches with the question."""
    spec, question = turn.request.retrieval, turn.request.question
    if spec.query:
        return SearchQuery(spec.query, "request")
    if not (spec.rewrite and turn.request.history):
        return SearchQuery(question, "question")
    try:
        async with asyncio.timeout(turn.remaining()):
            text, origin = await templates.load(rewrite_template)
        recent = turn.request.history[-REWRITE_HISTORY:]
        prompt = await renderer.render(
            renderer.compile(text, origin=origin),
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
