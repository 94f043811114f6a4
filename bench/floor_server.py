"""The physical floor of a RAG answer: a bare Starlette app doing what flexible-rag does for a
question whose embedding is cached, and nothing else. bench/floor.py measures the product
against it in the same run.

    FLOOR_INDEX=<index.sqlite> FLOOR_MODEL_URL=http://127.0.0.1:<port>/v1 \\
        .venv/bin/python -m uvicorn --app-dir bench floor_server:app --loop uvloop --http httptools

One request: parse the JSON body; rank the index's chunks with raw SQLite FTS5 (bm25) and
numpy cosine over the vectors held in memory, fused by reciprocal rank; one chat completion
from the model with httpx (one client, its pool kept), or with FLOOR_CLIENT=aiohttp through one
aiohttp session (what the product's model calls are sent with); the answer, its sources, the
system prompt and the two-message history serialized as JSON (about the size of the product's
answer). The query vector is the product's embedding of the question, computed once per
question in a thread, as the product's cache holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import sys
from pathlib import Path

import aiohttp
import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COLUMNS = ("id", "text", "title", "section", "filename", "chunk_index", "page", "category")
CANDIDATES, TOP, RRF_K = 50, 3, 60

db = sqlite3.connect(os.environ["FLOOR_INDEX"], check_same_thread=False)
rows = db.execute("SELECT rowid, embedding FROM chunk_vectors ORDER BY rowid").fetchall()
rowids = np.array([r for r, _ in rows], dtype=np.int64)
vectors = np.vstack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
model = httpx.AsyncClient(base_url=os.environ["FLOOR_MODEL_URL"], timeout=30)
sessions: list[aiohttp.ClientSession] = []  # the aiohttp client's, made on the serving loop
query_vectors: dict[str, np.ndarray] = {}


async def query_vector(question: str) -> np.ndarray:
    if question not in query_vectors:
        from shared.backends import embeddings

        query_vectors[question] = np.asarray(await embeddings().embed_query(question), dtype=np.float32)
    return query_vectors[question]


def ranked(question: str, vector: np.ndarray) -> list[tuple[int, float]]:
    match = " OR ".join(f'"{w}"' for w in re.findall(r"\w+", question.lower()))
    text = db.execute(
        "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?", (match, CANDIDATES)
    ).fetchall()
    similarities = vectors @ vector
    best = np.argsort(-similarities)[:CANDIDATES]
    scores: dict[int, float] = {}
    for ranking in ([r for (r,) in text], [int(rowids[i]) for i in best]):
        for rank, rowid in enumerate(ranking, start=1):
            scores[rowid] = scores.get(rowid, 0.0) + 1 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)[:TOP]


async def complete(body: dict) -> dict:
    if os.environ.get("FLOOR_CLIENT") != "aiohttp":
        return (await model.post("/chat/completions", json=body)).json()
    if not sessions:
        sessions.append(aiohttp.ClientSession(os.environ["FLOOR_MODEL_URL"] + "/"))
    async with sessions[0].post("chat/completions", json=body) as reply:
        return await reply.json()


async def answer(request: Request) -> Response:
    question = json.loads(await request.body())["question"]
    top = ranked(question, await query_vector(question))
    found = db.execute(
        f"SELECT rowid, {', '.join(COLUMNS)} FROM chunks WHERE rowid IN ({', '.join('?' * len(top))})",
        [r for r, _ in top],
    ).fetchall()
    by_rowid = {row[0]: dict(zip(COLUMNS, row[1:], strict=True)) for row in found}
    sources = [{**by_rowid[rowid], "score": score} for rowid, score in top]
    system = "Answer from these sources, citing them as [n].\n\n" + "\n\n".join(
        f"[{n}] {s['title']}\n{s['text']}" for n, s in enumerate(sources, start=1)
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    completion = await complete({"model": "zero", "messages": messages})
    text = completion["choices"][0]["message"]["content"]
    history = [{"role": "user", "content": question}, {"role": "assistant", "content": text, "sources": sources}]
    body = {"answer": text, "sources": sources, "system_prompt": system, "history": history, **completion["usage"]}
    return Response(json.dumps(body), media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette):
    yield
    await model.aclose()
    for session in sessions:
        await session.close()


app = Starlette(routes=[Route("/floor", answer, methods=["POST"])], lifespan=lifespan)
