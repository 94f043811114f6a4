"""The answer path's latency on both evaluation corpora: the extractive answers' candidate vectors
read from the embedded index (as shipped), and computed when the question comes (as before).

    OMP_NUM_THREADS=1 .venv/bin/python bench/answer_latency.py [--suite all|sample|pdfs] [--modes stored,computed]

Each suite's reported questions go through the API in process, as `python -m devtools.evaluate`
asks them (devtools.evaluate.runner): one request per turn, follow-ups in a session, every
question once, after one warm-up request that loads the models. The query-embedding cache is
off, so that every question is a first question and no mode profits from another's queries;
each mode starts with a fresh answerer, no candidate vector cached in the process. The suites'
index files are the evaluation's own (unchanged files are not indexed again).

Prints per suite and mode: turns, median and p95 latency from request to answer, and how many
answers differ from the first mode's (the modes must answer alike), with the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["EMBEDDINGS_CACHE_SIZE"] = "0"  # every question a first question

from devtools.evaluate.__main__ import SUITES, in_process_client, own_index  # noqa: E402
from devtools.evaluate.runner import run_cases  # noqa: E402
from devtools.evaluate.scoring import load_cases  # noqa: E402
from shared import backends  # noqa: E402

MODES = {
    "stored": "candidate vectors read from the index (ingestion made them)",
    "computed": "candidate vectors computed when the question comes",
}


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores"


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


async def run_mode(mode: str, ground_truth: Path, corpus: Path) -> list[dict]:
    """The suite's turns answered in this mode, each a record of the evaluation's."""
    backends.rebuild()
    if mode == "computed":  # the answerer embeds every candidate itself, as before the index held them
        backends._answer_embeddings = backends.embeddings  # type: ignore[assignment]
    cases = load_cases(ground_truth)
    async with in_process_client(corpus) as client:  # unchanged files are not indexed again
        await client.post("/api/v2/flexible-rag", json={"question": "What is covered?"}, timeout=300)
        backends._extractive_answers.cache_clear()  # a fresh answerer: the warm-up's vectors are not cached
        return await run_cases(client, cases)


async def bench(suite: str, modes: list[str]) -> None:
    corpus, ground_truth = SUITES[suite].corpus, SUITES[suite].reported
    first: list[str] | None = None
    for mode in modes:
        answer_embeddings = backends._answer_embeddings
        try:
            records = await run_mode(mode, ground_truth, corpus)
        finally:
            backends._answer_embeddings = answer_embeddings  # type: ignore[assignment]
        seconds = [r["latency_seconds"] for r in records]
        answers = [r["answer"] for r in records]
        first = first or answers
        differ = sum(a != b for a, b in zip(answers, first, strict=True))
        p95 = statistics.quantiles(seconds, n=20)[-1]
        print(
            f"| {suite} | {mode} | {len(records)} | {statistics.median(seconds) * 1000:.0f} ms "
            f"| {p95 * 1000:.0f} ms | {differ} | {load()} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=(*SUITES, "all"), default="all")
    parser.add_argument("--modes", default="stored,computed", help=f"comma-separated: {', '.join(MODES)}")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if unknown := set(modes) - MODES.keys():
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    print(f"{machine()}, load before {load()}\n")
    print("| corpus | candidate vectors | turns | median | p95 | answers unlike the first mode's | load after |")
    print("|---|---|---|---|---|---|---|")
    for suite in SUITES if args.suite == "all" else [args.suite]:
        with own_index(SUITES[suite].index_suffix):
            asyncio.run(bench(suite, modes))


if __name__ == "__main__":
    main()
