"""Evaluate answer quality against the ground truth of each corpus, or a ground-truth file.

    python -m devtools.evaluate                              # in process, the embedded default, every corpus
    python -m devtools.evaluate --suite pdfs --set calibration   # one corpus, its calibration questions
    python -m devtools.evaluate --base-url https://<app>.azurewebsites.net --suite sample   # any deployment
    python -m devtools.evaluate --ground-truth my.jsonl --corpus my-documents/
    python -m devtools.evaluate compare before.json after.json

A suite (a corpus and its questions) writes <out>-<suite>.json and .md, a --ground-truth file
<out>.json and .md (default out: .data/evaluation/<time>). In process, the app runs with the
environment's settings, after indexing the corpus, each suite into an index file of its own
(unchanged files are skipped). Over HTTP the deployment's index must hold the corpus; a
function key may come from EVAL_FUNCTION_KEY; a judge model's key from EVAL_JUDGE_API_KEY.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import httpx

from devtools.evaluate import judge, report
from devtools.evaluate.runner import run_cases
from devtools.evaluate.scoring import load_cases
from shared.config import DATA_DIR, PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "samples"


class Suite(NamedTuple):
    """A corpus with its questions: the reported set, and a calibration set to tune on."""

    corpus: Path
    reported: Path
    calibration: Path
    index_suffix: str  # in process: the suite's index file is the configured one's name plus this


SUITES = {
    "sample": Suite(
        SAMPLES / "corpus", SAMPLES / "ground_truth.jsonl", SAMPLES / "ground_truth_holdout.jsonl", index_suffix=""
    ),
    "pdfs": Suite(
        SAMPLES / "pdfs" / "corpus",
        SAMPLES / "pdfs" / "ground_truth.jsonl",
        SAMPLES / "pdfs" / "ground_truth_calibration.jsonl",
        index_suffix="-pdfs",
    ),
}


@contextlib.contextmanager
def own_index(suffix: str) -> Iterator[None]:
    """The app's backends on the configured index file's name plus `suffix` (a corpus of its own), then as before."""
    from shared import backends
    from shared.config import get_settings

    if not suffix:
        yield
        return
    configured = get_settings().search.index_path
    previous = os.environ.get("SEARCH_INDEX_PATH")
    os.environ["SEARCH_INDEX_PATH"] = str(configured.with_name(configured.stem + suffix + configured.suffix))
    backends.rebuild()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["SEARCH_INDEX_PATH"]
        else:
            os.environ["SEARCH_INDEX_PATH"] = previous
        backends.rebuild()


@contextlib.asynccontextmanager
async def in_process_client(corpus: Path | None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app itself (no server, no port), its index holding `corpus` first."""
    from devtools.local_server import build_app
    from shared import backends
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest

    if corpus is not None:
        await ingest(corpus, backends.index_writer(), backends.embeddings(), prune=False, chunker=Chunker())
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
        yield client


def http_client(base_url: str) -> httpx.AsyncClient:
    key = os.environ.get("EVAL_FUNCTION_KEY")
    return httpx.AsyncClient(base_url=base_url.rstrip("/"), headers={"x-functions-key": key} if key else {})


async def evaluate(
    args: argparse.Namespace, argv: list[str], ground_truth: Path, corpus: Path | None
) -> dict[str, Any]:
    cases = load_cases(ground_truth)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    client = http_client(args.base_url) if args.base_url else in_process_client(corpus)
    async with client as connected:
        records = await run_cases(connected, cases, top_k=args.top_k, model=args.model)
    summary = report.summarize(records)
    if args.judge_endpoint:
        judge.judge(records, judge.judge_config(args.judge_provider, args.judge_endpoint, args.judge_model))
        summary["judge"] = judge.judged_means(records)
    run = {
        "target": args.base_url or "in process",
        "command": "python -m devtools.evaluate " + shlex.join(argv),
        "started_at": started,
        "ground_truth": str(ground_truth),
        "model": args.model or "default",
        "top_k": args.top_k,
    }
    return {"run": run, "summary": summary, "turns": records}


def _write(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text(report.markdown(result))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devtools.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=(*SUITES, "all"), default="all", help="the corpus and its questions")
    parser.add_argument("--set", choices=("reported", "calibration"), default="reported", help="a suite's questions")
    parser.add_argument("--ground-truth", type=Path, help="a ground-truth file instead of a suite")
    parser.add_argument("--base-url", help="a deployment to evaluate over HTTP; default: the app in process")
    parser.add_argument("--corpus", type=Path, help="with --ground-truth, in process: index this folder first")
    parser.add_argument("--top-k", type=int, help="sources per question; default: the deployment's")
    parser.add_argument("--model", help="a model alias to answer with; default: the deployment's")
    parser.add_argument("--out", type=Path, help="report path without suffix; default .data/evaluation/<time>")
    parser.add_argument("--judge-provider", choices=("azure_openai", "openai"), default="azure_openai")
    parser.add_argument("--judge-endpoint", help="a judge model's endpoint: adds groundedness and relevance")
    parser.add_argument("--judge-model", help="the judge's deployment (Azure OpenAI) or model name")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compare"]:
        parser = argparse.ArgumentParser(prog="python -m devtools.evaluate compare")
        parser.add_argument("before", type=Path)
        parser.add_argument("after", type=Path)
        args = parser.parse_args(argv[1:])
        before, after = (json.loads(p.read_text()) for p in (args.before, args.after))
        print(report.comparison(before, after))
        return
    args = _parser().parse_args(argv)
    if args.judge_endpoint and not args.judge_model:
        raise SystemExit("--judge-endpoint needs --judge-model")
    out = args.out or DATA_DIR / "evaluation" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name, ground_truth, corpus, suffix in _runs(args):
        with own_index(suffix if not args.base_url else ""):
            result = asyncio.run(evaluate(args, argv, ground_truth, corpus))
        path = out if name is None else out.with_name(f"{out.name}-{name}")
        _write(path, result)
        print(report.markdown({**result, "turns": []}).split("\n\n| id |")[0])
        print(f"\nreport: {path.with_suffix('.md')} and {path.with_suffix('.json')}\n")


def _runs(args: argparse.Namespace) -> list[tuple[str | None, Path, Path | None, str]]:
    """What to evaluate: (suite name or None, ground truth, corpus to index in process, index suffix)."""
    if args.ground_truth:
        return [(None, args.ground_truth, args.corpus, "")]
    names = list(SUITES) if args.suite == "all" else [args.suite]
    which: Literal["reported", "calibration"] = args.set
    return [(n, getattr(SUITES[n], which), SUITES[n].corpus, SUITES[n].index_suffix) for n in names]


if __name__ == "__main__":
    main()
