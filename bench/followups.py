"""Follow-up questions: how often each way of searching them calls the model, what it retrieves,
and what it adds before the sources are known.

    python bench/followups.py [--runs 3] [--verbose]

The set, samples/ground_truth_followups.jsonl, holds conversations over samples/corpus whose
last question is a follow-up, each labelled whether it needs the earlier turns to be
understood. The earlier turns are replayed with the set's right answers, so every strategy
sees the same conversation. Each follow-up goes through the orchestrator with the embedded
model (SmolLM2-135M in its worker process) over an index of samples/corpus built the way
bench/retrieval_quality.py builds it, up to the sources (the answer is not generated: it
does not depend on the strategy but through the sources). The strategies, interleaved per
conversation:

    never   the question as asked (the retrieval spec's `rewrite` off)
    always  the model rewrites every follow-up (the behaviour before the decision)
    model   shared.core.followups decides; the model rewrites those that need the conversation
    expand  it decides; those get the earlier questions' content words, no model call

Per strategy: model calls, retrieval by document (recall@3 and nDCG@10, ranx, as
devtools.evaluate reports them), the share of follow-ups whose fact is in the top 3 sources
(SEARCH_TOP_K's default), and the time until the sources are known.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval_quality import build_index  # noqa: E402

from devtools.evaluate.report import ranking  # noqa: E402
from devtools.evaluate.scoring import Case, facts_found, load_cases  # noqa: E402
from shared import backends  # noqa: E402
from shared.config import DATA_DIR, PROJECT_ROOT, get_settings  # noqa: E402
from shared.core.events import SourcesFound  # noqa: E402
from shared.core.followups import expanded_query, needs_conversation  # noqa: E402
from shared.core.orchestrator import Orchestrator  # noqa: E402
from shared.core.types import Message, RetrievalSpec, TurnRequest  # noqa: E402
from shared.retrieval.embedded import EmbeddedRetriever  # noqa: E402
from shared.retrieval.query import SearchOptions  # noqa: E402

FOLLOWUPS = PROJECT_ROOT / "samples" / "ground_truth_followups.jsonl"
DEPTH = 10  # sources per follow-up: nDCG@10 by document
PROMPT_SOURCES = 3  # SEARCH_TOP_K's default: what the prompt would hold
STRATEGIES = ("never", "always", "model", "expand")
QUALITY = ("recall@1", "recall@3", "ndcg@10", "fact@1", f"fact@{PROMPT_SOURCES}")  # each: needs / self-contained


class TimedModel:
    """A chat model whose completions are counted and timed (up to the sources, only rewrites complete)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.seconds: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    async def complete(self, messages, params):
        started = time.perf_counter()
        try:
            return await self._model.complete(messages, params)
        finally:
            self.seconds.append(time.perf_counter() - started)


class RecordingRetriever:
    """The index's retriever, keeping the query of each search."""

    def __init__(self, retriever: EmbeddedRetriever) -> None:
        self._retriever = retriever
        self.queries: list[str | None] = []

    async def search(self, question: str, spec: RetrievalSpec, identity: str | None = None):
        self.queries.append(spec.query)
        return await self._retriever.search(question, spec, identity)


@dataclass
class Outcome:
    """One strategy on one follow-up."""

    case: Case
    query: str
    sources: list[Any]
    model_calls: int
    model_seconds: float
    seconds_to_sources: list[float] = field(default_factory=list)  # one per run


def request(case: Case, strategy: str) -> TurnRequest:
    history: list[Message] = []
    for turn in case.turns[:-1]:
        history += [Message("user", turn.question), Message("assistant", turn.answer or "")]
    spec = RetrievalSpec(rewrite=strategy != "never", top_k=DEPTH, select_fields=("filename",))
    return TurnRequest(case.turns[-1].question, tuple(history), retrieval=spec)


async def sources_of(orchestrator: Any, turn: TurnRequest) -> list[Any]:
    """The turn up to its sources; closing it there skips the answer."""
    async with contextlib.aclosing(orchestrator.run(turn)) as events:
        async for event in events:
            if isinstance(event, SourcesFound):
                return list(event.sources)
    raise AssertionError("retrieval is on: a turn yields its sources")


async def ask(orchestrator: Any, retriever: RecordingRetriever, model: TimedModel, case: Case, strategy: str):
    calls_before = len(model.seconds)
    started = time.perf_counter()
    sources = await sources_of(orchestrator, request(case, strategy))
    elapsed = time.perf_counter() - started
    calls = model.seconds[calls_before:]
    return Outcome(case, retriever.queries[-1] or "", sources, len(calls), sum(calls), [elapsed])


def record(outcome: Outcome) -> dict[str, Any]:
    """The shape devtools.evaluate.report.ranking reads."""
    return {
        "id": outcome.case.id,
        "answerable": True,
        "expected_documents": outcome.case.turns[-1].documents,
        "sources": [s.fields.get("filename") for s in outcome.sources],
    }


def fact_within(outcome: Outcome, k: int) -> bool:
    """Whether the top k sources hold every fact of the follow-up's answer."""
    turn = outcome.case.turns[-1]
    held = " ".join(s.text for s in outcome.sources[:k])
    return facts_found(held, turn.facts) == len(turn.facts)


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    records = [record(o) for o in outcomes]
    return {
        "calls": sum(o.model_calls for o in outcomes),
        "recall@1": ranking(records, 1)["recall@1"],
        "recall@3": ranking(records, 3)["recall@3"],
        "ndcg@10": ranking(records, 10)["ndcg@10"],
        "fact@1": sum(fact_within(o, 1) for o in outcomes) / len(outcomes),
        f"fact@{PROMPT_SOURCES}": sum(fact_within(o, PROMPT_SOURCES) for o in outcomes) / len(outcomes),
    }


def row(strategy: str, outcomes: list[Outcome], baseline: list[float]) -> str:
    needs = summary([o for o in outcomes if o.case.needs_conversation])
    alone = summary([o for o in outcomes if not o.case.needs_conversation])
    to_sources = [t for o in outcomes for t in o.seconds_to_sources]
    added = [statistics.median(o.seconds_to_sources) - b for o, b in zip(outcomes, baseline, strict=True)]
    per_call = [o.model_seconds / o.model_calls for o in outcomes if o.model_calls]
    quality = [f"{needs[m]:.3f} / {alone[m]:.3f}" for m in QUALITY]
    cells = [
        strategy,
        f"{needs['calls'] + alone['calls']} of {len(outcomes)} ({needs['calls']} / {alone['calls']})",
        *quality,
        f"{statistics.median(to_sources) * 1000:.0f} ms",
        f"{statistics.median(added) * 1000:+.1f} ms",
        f"{statistics.median(per_call) * 1000:.0f} ms" if per_call else "–",
    ]
    return "| " + " | ".join(cells) + " |"


def report(results: dict[str, list[Outcome]], runs: int, verbose: bool) -> None:
    cases = [o.case for o in results["never"]]
    needing = sum(bool(c.needs_conversation) for c in cases)
    print(f"\n{len(cases)} follow-ups ({needing} need the conversation, {len(cases) - needing} self-contained)")
    print(f"{runs} run(s); times are medians over follow-ups (and runs); 'needs / self' splits by the label\n")
    columns = ["strategy", "model calls (needs / self)", *QUALITY]
    columns += ["to the sources", "added over never", "per model call"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    baseline = [statistics.median(o.seconds_to_sources) for o in results["never"]]
    for strategy, outcomes in results.items():
        print(row(strategy, outcomes, baseline))
    if verbose:
        for case, case_outcomes in zip(cases, zip(*results.values(), strict=True), strict=True):
            print(f"\n{case.id} (needs the conversation: {case.needs_conversation})")
            for strategy, outcome in zip(results, case_outcomes, strict=True):
                documents = list(dict.fromkeys(record(outcome)["sources"]))[:3]
                print(f"  {strategy:7s} {outcome.query!r} -> {', '.join(documents)}; fact@3 {fact_within(outcome, 3)}")


def decision_agreement(cases: list[Case]) -> str:
    """How the decision compares with the set's labels."""
    decided = [needs_conversation(turn.question, turn.history) for turn in (request(c, "model") for c in cases)]
    labels = [bool(c.needs_conversation) for c in cases]
    missed = sum(label and not d for d, label in zip(decided, labels, strict=True))
    extra = sum(d and not label for d, label in zip(decided, labels, strict=True))
    agreed = len(cases) - missed - extra
    return f"agrees with the label on {agreed} of {len(cases)}: {extra} self-contained judged needing, {missed} missed"


def decision_cost(cases: list[Case], repeats: int = 200) -> float:
    """Seconds the decision and the expansion take per follow-up (pure Python, no model)."""
    turns = [request(case, "expand") for case in cases]
    started = time.perf_counter()
    for _ in range(repeats):
        for turn in turns:
            if needs_conversation(turn.question, turn.history):
                expanded_query(turn.question, turn.history)
    return (time.perf_counter() - started) / (repeats * len(turns))


def orchestrator(index: Any, model: TimedModel, strategy: str) -> tuple[Orchestrator, RecordingRetriever]:
    settings = get_settings()
    options = SearchOptions(DEPTH, DEPTH, vector_weight=settings.search.vector_weight)
    retriever = RecordingRetriever(EmbeddedRetriever(index, backends.embeddings(), options))
    mode = "model" if strategy == "never" else strategy  # never: the request turns rewriting off
    built = Orchestrator(
        retriever=lambda: retriever,
        chat_model=lambda alias: model,
        templates=backends.template_source(),
        renderer=backends.template_renderer(),
        default_system_prompt=settings.prompts.system_prompt_file,
        default_response_template=settings.prompts.response_template_file,
        query_rewrite_template=settings.prompts.query_rewrite_file,
        query_rewrite=lambda alias: mode,
    )
    return built, retriever


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="times each strategy asks each follow-up")
    parser.add_argument("--verbose", action="store_true", help="each follow-up's search query and documents")
    args = parser.parse_args()
    (DATA_DIR / "bench").mkdir(parents=True, exist_ok=True)
    index = await build_index(PROJECT_ROOT / "samples" / "corpus", DATA_DIR / "bench" / "followups.sqlite")
    model = TimedModel(backends.chat_model())
    if model.info.provider != "embedded":
        raise SystemExit("the bench measures the embedded model: leave LLM_DEFAULT_ALIAS unset")
    built = {strategy: orchestrator(index, model, strategy) for strategy in STRATEGIES}
    cases = load_cases(FOLLOWUPS)
    results: dict[str, list[Outcome]] = {strategy: [] for strategy in STRATEGIES}
    await sources_of(built["always"][0], request(cases[0], "always"))  # the worker and the embedder warm up
    for run in range(args.runs):
        for number, case in enumerate(cases):
            order = STRATEGIES[(number + run) % 4 :] + STRATEGIES[: (number + run) % 4]  # no strategy always first
            for strategy in order:
                outcome = await ask(*built[strategy], model, case, strategy)
                if run == 0:
                    results[strategy].append(outcome)
                else:
                    results[strategy][number].seconds_to_sources += outcome.seconds_to_sources
    report(results, args.runs, args.verbose)
    print(f"\nthe decision {decision_agreement(cases)}")
    print(f"the decision (and the expansion when needed): {decision_cost(cases) * 1e6:.0f} µs per follow-up")


if __name__ == "__main__":
    asyncio.run(main())
