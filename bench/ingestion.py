"""Ingestion throughput, embedding included: `shared.ingest.pipeline`'s own ingest() over ~200-token chunks.

    .venv/bin/python bench/ingestion.py [--chunks 256] [--rounds 3] [--before <commit>] \
        [--variant "e5:EMBEDDINGS_MODEL=multilingual-e5-small"]

The documents are real text: the CPython FAQ (Debian's python3.11-doc) or, without it, the
sample corpus, cut into ~200-token pieces (cl100k) and joined eight to a file, so that the
ingestion's chunker cuts them back into ~200-token chunks. Each measurement is a fresh
process that loads the configured embedder, then times ingest() alone (reading, chunking,
embedding, writing) into a new index file. HEAD, the commit given with --before (its files
exported with `git archive` into a temporary folder) and each --variant (HEAD with other
settings) run interleaved, round after round; medians. Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAQ_PAGES = Path("/usr/share/doc/python3.11/html/faq")
PIECES_PER_FILE = 8


def source_text() -> str:
    if FAQ_PAGES.is_dir():
        from bs4 import BeautifulSoup

        pages = sorted(FAQ_PAGES.glob("*.html"))
        return "\n\n".join(BeautifulSoup(p.read_text(), "html.parser").get_text("\n") for p in pages)
    return "\n\n".join(p.read_text() for p in sorted((ROOT / "samples" / "corpus").glob("*.md")))


def write_documents(folder: Path, chunks: int) -> None:
    from shared.ingest.chunking import Chunker

    pieces = Chunker(200, 0).split(re.sub(r"\n\s*\n+", "\n\n", source_text()))
    pieces = (pieces * (chunks // len(pieces) + 1))[:chunks]
    for start in range(0, len(pieces), PIECES_PER_FILE):
        text = "\n\n".join(pieces[start : start + PIECES_PER_FILE])
        (folder / f"doc-{start // PIECES_PER_FILE:04d}.md").write_text(f"# Part {start}\n\n{text}\n")


def measure(folder: Path, tree: Path) -> dict[str, float]:
    """Runs in a process of its own, with `tree`'s code first on sys.path."""
    sys.path.insert(0, str(tree))
    from shared import backends
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest
    from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter

    embeddings = backends.embeddings()
    chunker = Chunker()
    index = EmbeddedIndex(Path(tempfile.mkdtemp(prefix="bench-ingest-")) / "index.sqlite", "bench")
    started = time.perf_counter()
    summary = asyncio.run(ingest(folder, EmbeddedIndexWriter(index), embeddings, prune=False, chunker=chunker))
    seconds = time.perf_counter() - started
    return {"chunks": summary.chunks, "files": summary.indexed, "seconds": seconds}


def export(commit: str) -> Path:
    """The commit's files in a folder of their own (git archive: the repository is only read)."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{commit}-"))
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run_once(folder: Path, tree: Path, env: dict[str, str]) -> dict[str, float]:
    command = [sys.executable, __file__, "--measure", str(folder), "--tree", str(tree)]
    done = subprocess.run(command, env=os.environ | env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, settings = text.partition(":")
    return name, dict(pair.split("=", 1) for pair in settings.split(",") if pair)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="a commit to measure beside HEAD")
    parser.add_argument("--variant", action="append", default=[], help="NAME:SETTING=VALUE,... on HEAD")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.tree)))
        return
    sys.path.insert(0, str(ROOT))
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-docs-"))
    write_documents(folder, args.chunks)
    columns = {"HEAD": (ROOT, {})} | {name: (ROOT, env) for name, env in map(parse_variant, args.variant)}
    if args.before:
        columns = {args.before: (export(args.before), {})} | columns
    results: dict[str, list[dict[str, float]]] = {name: [] for name in columns}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, (tree, env) in columns.items():
            results[name].append(run_once(folder, tree, env))
        loads.append(os.getloadavg()[0])
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; ", end="")
    print(f"load average {min(loads):.1f}-{max(loads):.1f}; {len(list(folder.iterdir()))} files\n")
    print("| ingestion | chunks | seconds, median | chunks/s, median (each round) |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        rates = [r["chunks"] / r["seconds"] for r in runs]
        seconds = statistics.median(r["seconds"] for r in runs)
        each = ", ".join(f"{rate:.1f}" for rate in rates)
        print(f"| {name} | {runs[0]['chunks']:.0f} | {seconds:.1f} | {statistics.median(rates):.1f} ({each}) |")


if __name__ == "__main__":
    main()
