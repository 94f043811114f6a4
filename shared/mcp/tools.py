"""The MCP tools: search, ask and get_source for every caller; list_sessions and get_session
for a caller with an identity.

Each runs as the HTTP API's endpoint for the same thing does, with the caller's Principal:
the search security filter trims every passage, a session is reached through its owner
(shared.identity). Each returns its structured result (a wire model, the tool's
outputSchema) and a readable text of it for the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from shared.core.errors import RequestError
from shared.core.types import RetrievalSpec, Source
from shared.identity import Principal, SessionFamily
from shared.wire import mcp as wire
from shared.wire.sessions import SessionHistory, SessionsPage, session_history, sessions_page
from shared.wire.sources import OpenedSourceOut, source_link

Run = Callable[[Any, Principal], Awaitable[tuple[BaseModel, str]]]


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str  # written for a model choosing a tool
    arguments: type[BaseModel]
    output: type[BaseModel]
    run: Run
    needs_identity: bool = False  # listed and callable only for a caller with an identity
    # A turn keeps HTTP_DEADLINE_SECONDS itself and answers then with what it has (and an error);
    # every other tool is cut at the deadline.
    keeps_deadline: bool = False


async def search(args: wire.SearchArgs, who: Principal) -> tuple[wire.SearchOutput, str]:
    from shared.backends import retriever

    spec = RetrievalSpec(
        query=args.query,
        top_k=args.top,
        vector_search=args.mode != "text",
        vector_only=args.mode == "vector",
        filter=args.filter,
    )
    result = await retriever().search(args.query, spec, who.search_principal)
    passages = [passage(n, source, with_text=True) for n, source in enumerate(result.sources, 1)]
    text = "\n\n".join(f"{_heading(p)}\n{p.text}" for p in passages) or "No passage matches."
    return wire.SearchOutput(query=args.query, mode=args.mode, passages=passages), text


async def ask(args: wire.AskArgs, who: Principal) -> tuple[wire.AskOutput, str]:
    from shared.backends import orchestrator
    from shared.families.flexible import FLAVORS, FlexibleTurn
    from shared.wire.flexible_requests import ABTesting

    session_id = args.session_id
    # A session's follow-ups search standalone, as on /flexible-chat, whose (v2) sessions these are.
    flavor = FLAVORS["chat" if session_id else "rag"]
    ab_testing = ABTesting(user_id=who.experiment_key, session_id=session_id) if session_id else None
    body = flavor.request(question=args.question, ab_testing=ab_testing)
    result = await orchestrator().answer(FlexibleTurn.for_caller(flavor, body, who, streams=False).turn_request())
    sources = [passage(n, source, with_text=False) for n, source in enumerate(result.sources, 1)]
    errors = [f"{e.stage}: {e.message}" for e in result.errors]
    output = wire.AskOutput(answer=result.answer, sources=sources, session_id=session_id, errors=errors)
    text = "\n".join([result.answer, "", "Sources:", *map(_heading, sources), *(f"Error: {e}" for e in errors)])
    return output, text


async def get_source(args: wire.GetSourceArgs, who: Principal) -> tuple[OpenedSourceOut, str]:
    from shared.families.sources import open_cited

    out = await open_cited(args.source_id, who.search_principal)
    start, end = out.highlight.start, out.highlight.end
    marked = f"{out.document.text[:start]}>>> {out.document.text[start:end]} <<<{out.document.text[end:]}"
    heading = f"{out.title or out.filename} ({out.filename}, section {out.chunk_index})"
    return out, f"{heading}\nThe cited passage is between >>> and <<<.\n\n{marked}"


async def list_sessions(args: wire.ListSessionsArgs, who: Principal) -> tuple[SessionsPage, str]:
    from shared.backends import history_store

    page = sessions_page(await history_store().list_sessions(who.identity, args.page_size, args.continuation))
    lines = [f"{s.session_id}: {s.title} ({s.message_count} messages)" for s in page.sessions]
    more = [f"More: continuation {page.continuation!r}"] if page.continuation else []
    return page, "\n".join([*lines, *more]) or "No sessions."


async def get_session(args: wire.GetSessionArgs, who: Principal) -> tuple[SessionHistory, str]:
    from shared.backends import history_store

    stored = await history_store().load(who.session_owner(SessionFamily.V2, args.session_id), args.session_id, None)
    if not stored.messages:
        raise RequestError(f"no session {args.session_id!r} for this user", field="session_id", status=404)
    history = session_history(args.session_id, stored.messages)
    return history, "\n\n".join(f"{m.role}: {m.content}" for m in history.messages)


def passage(n: int, source: Source, *, with_text: bool) -> wire.Passage:
    fields = source.fields
    return wire.Passage(
        n=n,
        source_id=source.id,
        title=fields.get("title"),
        filename=fields.get("filename") or "",
        page=fields.get("page"),
        section=int(fields.get("chunk_index") or 0),
        score=source.score,
        link=source_link(source.id),
        text=source.text if with_text else None,
    )


def _heading(p: wire.Passage) -> str:
    where = f"{p.filename}, page {p.page}" if p.page is not None else p.filename
    return f"[{p.n}] {p.title or p.filename} ({where}, section {p.section}; score {p.score:.4f}; id {p.source_id})"


TOOLS = (
    Tool(
        "search",
        "Search the knowledge base",
        "Find passages of the knowledge base's documents that match a query, best first, each with its source id, "
        "title, file, page and score. Use it to look facts up or to see what the documents say, then cite or open "
        "passages; use ask instead for a written answer.",
        wire.SearchArgs,
        wire.SearchOutput,
        search,
    ),
    Tool(
        "ask",
        "Ask the knowledge base",
        "Answer a question from the knowledge base's documents, with numbered citations [n] and their sources. "
        "Give a session_id to continue a conversation (the earlier questions give a follow-up its context).",
        wire.AskArgs,
        wire.AskOutput,
        ask,
        keeps_deadline=True,
    ),
    Tool(
        "get_source",
        "Open a source",
        "Read a passage by its source id (from search or ask) with the text of its document around it, to check "
        "a citation or read more context.",
        wire.GetSourceArgs,
        OpenedSourceOut,
        get_source,
    ),
    Tool(
        "list_sessions",
        "List my conversations",
        "The caller's stored conversations (from ask with a session_id), most recently active first.",
        wire.ListSessionsArgs,
        SessionsPage,
        list_sessions,
        needs_identity=True,
    ),
    Tool(
        "get_session",
        "Read a conversation",
        "One of the caller's stored conversations, its questions and answers in order.",
        wire.GetSessionArgs,
        SessionHistory,
        get_session,
        needs_identity=True,
    ),
)
BY_NAME = {tool.name: tool for tool in TOOLS}
