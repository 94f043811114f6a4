"""Asks the ground truth's questions through the public API: single questions through
/api/v2/flexible-rag, follow-up chains through /api/v2/flexible-chat in one session. The
same client code serves the app in process (an ASGI transport) and any deployment (its base URL)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from tqdm import tqdm

from devtools.evaluate.scoring import Case, score_turn

RAG = "/api/v2/flexible-rag"
CHAT = "/api/v2/flexible-chat"


async def run_cases(
    client: httpx.AsyncClient, cases: Sequence[Case], *, top_k: int | None = None, model: str | None = None
) -> list[dict[str, Any]]:
    """One record per turn: what was asked, answered and retrieved, and its scores."""
    records = []
    user = f"evaluation-{uuid.uuid4().hex[:8]}"  # a fresh user: no stored conversation leaks in
    with tqdm(total=sum(len(c.turns) for c in cases), desc="Evaluating", unit="question") as progress:
        for case in cases:
            session = f"{case.id}-{uuid.uuid4().hex[:8]}"
            for number, turn in enumerate(case.turns):
                body: dict[str, Any] = {"question": turn.question}
                if top_k is not None:
                    body["fetch_args"] = {"AzureSearchFetcher": {"top_k": top_k}}
                if model is not None:
                    body["override_config"] = {"llm": model}
                url = RAG
                if len(case.turns) > 1:
                    url = CHAT
                    body["ab_testing"] = {"user_id": user, "session_id": session}
                records.append(await _ask(client, url, body, case, number))
                progress.update()
    return records


async def _ask(client: httpx.AsyncClient, url: str, body: dict, case: Case, number: int) -> dict[str, Any]:
    turn = case.turns[number]
    started = time.perf_counter()
    response = await client.post(url, json=body, timeout=300)
    latency = time.perf_counter() - started
    reply = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    sources = reply.get("metadata") or []
    meta = reply.get("response_metadata") or {}
    answer = reply.get("answer") or ""
    return {
        "id": case.id if len(case.turns) == 1 else f"{case.id}#{number + 1}",
        "kind": case.kind,
        "question": turn.question,
        "answerable": turn.answerable,
        "expected_documents": turn.documents,
        "expected_pages": turn.pages,
        "status": response.status_code,
        "answer": answer,
        "sources": [s.get("filename") for s in sources],
        "source_pages": [s.get("page") for s in sources],
        "source_texts": [s.get("text") or "" for s in sources],
        "search_query": meta.get("search_query"),
        "tokens": (meta.get("token_usage") or {}).get("total"),
        "latency_seconds": round(latency, 3),
        "errors": reply.get("errors") or [],
        **score_turn(turn, answer, sources),
    }
