"""The embedded model's runtime: what the worker process costs, and how fast the server is ready.

    .venv/bin/python bench/embedded_runtime.py [--runs 10]

1. Isolation: the same generations (a RAG-sized prompt, temperature 0, 64 tokens) run in
   process through llama.cpp and through the supervised worker, interleaved.
2. Start: the local server from its start until it listens (it loads everything first), then
   the first answer and the warm ones, with the default answer strategy and with the model
   writing every answer. Each question is asked once, so no answer reuses a cached prompt.

Prints Markdown for docs/performance.md. It starts its servers on free 127.0.0.1 ports and
stops them when done.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.servers import running_in_background  # noqa: E402
from shared.llm.embedded import default_model_path  # noqa: E402
from shared.llm.worker_protocol import Op  # noqa: E402
from shared.llm.worker_supervisor import WorkerSupervisor  # noqa: E402

CORPUS = ROOT / "samples" / "corpus"
QUESTIONS = [
    "How many years of warranty does the Zephyr frame have?",
    "How long does a full battery charge take?",
    "What is the battery capacity of the Zephyr?",
    "How do I return a bike?",
    "How often should the chain be lubricated?",
    "Which countries do you ship to?",
    "What does the warranty not cover?",
    "How much does shipping cost?",
    "What is the top assisted speed?",
    "How do I clean the bike?",
    "Can I ride in the rain?",
    "Who do I contact for warranty claims?",
]


def rag_messages(question: str) -> list[dict[str, str]]:
    """About the size of a default RAG turn: instructions and three ~200-token passages."""
    passages = [path.read_text()[:900] for path in sorted(CORPUS.iterdir())[:3]]
    context = "\n\n".join(f"[{i}] {text}" for i, text in enumerate(passages, 1))
    system = f"Answer from the sources below and cite them as [n].\n\nSources:\n{context}"
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


PARAMS = {"temperature": 0.0, "max_tokens": 64, "seed": 1}


def in_process(llm, question: str) -> float:
    started = time.perf_counter()
    for _ in llm.create_chat_completion(messages=rag_messages(question), stream=True, **PARAMS):
        pass
    return time.perf_counter() - started


async def through_worker(worker: WorkerSupervisor, question: str) -> float:
    started = time.perf_counter()
    request = {"op": Op.GENERATE, "messages": rag_messages(question), "params": PARAMS, "n": 1, "stream": True}
    async with contextlib.aclosing(worker.run(request)) as events:
        async for _ in events:
            pass
    return time.perf_counter() - started


def isolation(runs: int) -> None:
    from llama_cpp import Llama

    threads = os.cpu_count() or 1
    llm = Llama(model_path=str(default_model_path()), n_ctx=4096, n_threads=threads, verbose=False)
    worker = WorkerSupervisor(default_model_path(), 4096, threads)
    worker.ensure_started()
    local, isolated = [], []
    for i in range(runs):
        question = QUESTIONS[i % len(QUESTIONS)]
        local.append(in_process(llm, question))
        isolated.append(asyncio.run(through_worker(worker, question)))
    worker.close()
    a, b = statistics.median(local), statistics.median(isolated)
    print("| generation (RAG prompt, 64 tokens), median of", runs, "| seconds |\n|---|---|")
    print(f"| llama.cpp in process | {a:.3f} |\n| through the worker process | {b:.3f} |")
    print(f"| isolation overhead | {b - a:+.3f} s ({(b - a) / a:+.1%}) |\n")


def start_and_answers(label: str, env: dict[str, str], warm_runs: int) -> None:
    started = time.perf_counter()
    with running_in_background(startup_timeout=300, env=env) as base_url, httpx.Client(timeout=300) as client:
        ready = time.perf_counter() - started
        client.get(f"{base_url}/api/v2/models").raise_for_status()  # the client's own first request
        times = []
        for question in QUESTIONS[: warm_runs + 1]:
            asked = time.perf_counter()
            client.post(f"{base_url}/api/v2/flexible-rag", json={"question": question}).raise_for_status()
            times.append(time.perf_counter() - asked)
    first, warm = times[0], statistics.median(times[1:])
    print(f"| {label} | {ready:.2f} | {first:.3f} | {warm:.3f} | {first / warm:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or 'unknown CPU'}\n")
    isolation(args.runs)
    print("| answers | server start until listening, s | first answer, s | warm answer (median), s | first / warm |")
    print("|---|---|---|---|---|")
    start_and_answers("default (extractive for the embedded model)", {}, args.runs)
    start_and_answers("the model writes every answer", {"LLM_ANSWER_STRATEGY": "generative"}, args.runs)


if __name__ == "__main__":
    main()
