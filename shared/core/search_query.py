"""What a turn searches for: the request's query, the question, or on a follow-up that needs the
conversation (shared.core.followups), the question with the earlier questions' words or (with
`rewrite`, for a model whose rewrite mode says so) a standalone query the model writes from it."""

from __future__ import annotations

import asyncio
import logging

from shared.core.errors import RequestError, UpstreamError
from shared.core.followups import FOLLOWUP_HISTORY, RewriteMode
from shared.core.interfaces import TemplateRenderer, TemplateSource
from shared.core.turn import Turn
from shared.core.types import GenerationParams, Message, SearchQuery

log = logging.getLogger(__name__)

REWRITE_MAX_TOKENS = 48
REWRITE_MAX_CHARS = 300  # longer output is an answer, not a query: search with the question instead


async def search_query(
    turn: Turn, templates: TemplateSource, renderer: TemplateRenderer, rewrite_template: str, mode: RewriteMode
) -> SearchQuery:
    """The turn's search query; a rewrite that fails or gives no usable query searches the expansion."""
    spec, question, history = turn.request.retrieval, turn.request.question, turn.request.history
    if spec.query:
        return SearchQuery(spec.query, "request")
    recent = history[-FOLLOWUP_HISTORY:]
    resolved = turn.resolved
    needed = resolved is not None and bool(resolved.carried)
    # Without a model call, and when the model's rewrite fails: the earlier questions' words added.
    cheap = SearchQuery(resolved.search_text, "expanded") if needed else SearchQuery(question, "question")
    model_rewrites = spec.rewrite and history and (mode == "always" or (mode == "model" and needed))
    if not model_rewrites:
        return cheap
    try:
        async with asyncio.timeout(turn.remaining()):
            text, origin = await templates.load(rewrite_template)
        prompt = await renderer.render(
            renderer.compile(text, origin=origin),
            turn.variables(history=[{"role": m.role, "content": m.content} for m in recent]),
        )
        params = GenerationParams(temperature=0.0, max_tokens=REWRITE_MAX_TOKENS, stop=("\n",))
        async with asyncio.timeout(turn.remaining()):
            completion = await turn.model.complete([Message("user", prompt)], params)
    except (UpstreamError, RequestError, TimeoutError) as exc:
        log.warning("query rewrite failed (%s): searching without it", type(exc).__name__)
        return SearchQuery(cheap.text, "fallback")
    query = _first_line(completion.text)
    if not query or len(query) > REWRITE_MAX_CHARS:
        log.info("query rewrite gave no usable query: searching without it")
        return SearchQuery(cheap.text, "fallback")
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
