"""Filtered search before and after a change, in one process: the embedded index package of
another commit loaded beside this tree's, queries interleaved, and the results asserted identical.

    .venv/bin/python bench/search_before_after.py --before <commit> [--size 100000] [--queries 60]

Each version builds its own index file (their schemas may differ) from bench/search.py's
synthetic chunks (seed 7). The other commit's shared/retrieval/ package runs against this
tree's other modules. Searches remember what they found out about a filter until the index
changes, so besides the filter every query repeats, two cases take a filter no query used
before. Prints Markdown.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402
from bench.search import FILTER, WORDS, new_filters, synthetic_documents  # noqa: E402
from shared.core.types import RetrievalSpec  # noqa: E402
from shared.retrieval.embedded import EmbeddedIndex, fts_query  # noqa: E402
from shared.retrieval.query import SearchOptions  # noqa: E402

PLAIN = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT 5"
# name: (what the request asks, with the query vector). Every plan carries the caller's security trimming,
# as every search does (SearchOptions.plan adds it, parsed once per caller); a request filter comes on top.
CASES = {
    "text (the security trimming only)": (RetrievalSpec(top_k=5), False),
    "text + filter": (RetrievalSpec(top_k=5, filter=FILTER), False),
    "hybrid (the security trimming only)": (RetrievalSpec(top_k=5), True),
    "hybrid + filter": (RetrievalSpec(top_k=5, filter=FILTER), True),
}
FRESH_CASES = {"text + a filter no query used before": False, "hybrid + a filter no query used before": True}


def embedded_of(commit: str, folder: Path):
    """The commit's shared.retrieval.embedded, its package imported as `retrieval_before`."""
    package = folder / "retrieval_before"
    package.mkdir()
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", commit, "shared/retrieval/"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    for path in listed.split():
        source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True, capture_output=True)
        (package / Path(path).name).write_text(source.stdout.decode().replace("shared.retrieval", "retrieval_before"))
    sys.path.insert(0, str(folder))
    return importlib.import_module("retrieval_before.embedded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-search-ab-"))
    rng = np.random.default_rng(7)
    documents = [(name, name, chunks, vectors) for name, chunks, vectors in synthetic_documents(args.size, rng)]
    after = EmbeddedIndex(folder / "after.sqlite", "bench")
    after.replace_documents(documents)
    before = embedded_of(args.before, folder).EmbeddedIndex(folder / "before.sqlite", "bench")
    before.replace_documents(documents)
    texts = [" ".join(rng.choice(WORDS[50:2000], size=3)) for _ in range(args.queries)]
    vectors = [documents[rng.integers(len(documents))][3][0] for _ in range(args.queries)]
    fresh = new_filters(np.random.default_rng(args.size), 2 * args.queries)
    options = SearchOptions(default_top_k=5, max_top_k=50)
    load = os.getloadavg()[0]
    names = [*CASES, *FRESH_CASES]
    times: dict[str, dict[str, list[float]]] = {name: {"before": [], "after": []} for name in names}
    plain: list[float] = []
    for index in (before, after):  # vectors loaded, caches warm
        index.search(options.plan("warm up", RetrievalSpec()), vectors[0])
    for q, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        specs = dict(CASES)
        for i, (name, with_vector) in enumerate(FRESH_CASES.items()):
            specs[name] = (RetrievalSpec(top_k=5, filter=fresh[2 * q + i]), with_vector)
        # In a new order for each query: what runs first reads the query's pages from the disk cache.
        runs = [(name, label) for name in specs for label in ("before", "after")] + [("plain", "after")]
        random.Random(q).shuffle(runs)
        rows: dict[tuple[str, str], list] = {}
        for name, label in runs:
            index = after if label == "after" else before
            started = time.perf_counter()
            if name == "plain":
                index._db.execute(PLAIN, (fts_query(text),)).fetchall()
                plain.append(time.perf_counter() - started)
                continue
            spec, with_vector = specs[name]
            hits = index.search(options.plan(text, spec), vector if with_vector else None)
            times[name][label].append(time.perf_counter() - started)
            rows[name, label] = [(row["id"], round(score, 6)) for row, score in hits.rows]
        for name in specs:
            assert rows[name, "before"] == rows[name, "after"], (name, text)
    cpu = cpu_model()
    print(f"Machine: {cpu}, {os.cpu_count()} cores; load average {load:.1f} at the start, ", end="")
    print(f"{os.getloadavg()[0]:.1f} at the end; {args.size:,} chunks, {args.queries} queries, results identical")
    print()
    print(f"| query at {args.size:,} chunks | before ({args.before}) p50 | after p50 | after p95 ", end="")
    print("| after / plain FTS5 | the same, median of each query's |")
    print("|---|---|---|---|---|---|")
    plain_p50 = statistics.median(plain) * 1000
    print(f"| plain FTS5, `ORDER BY bm25 LIMIT 5`, no filter | | {plain_p50:.1f} ms | | 1.00 | 1.00 |")
    for name, runs in times.items():
        b, a = (statistics.median(runs[label]) * 1000 for label in ("before", "after"))
        p95 = float(np.percentile(runs["after"], 95)) * 1000
        paired = statistics.median(t / p for t, p in zip(runs["after"], plain, strict=True))
        print(f"| {name} | {b:.1f} ms | {a:.1f} ms | {p95:.1f} ms | {a / plain_p50:.2f} | {paired:.2f} |")


if __name__ == "__main__":
    main()
