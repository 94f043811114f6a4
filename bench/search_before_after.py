"""Filtered search before and after a change, in one process: the embedded index module of
another commit loaded beside this tree's, the same index file, queries interleaved, and the
results asserted identical.

    .venv/bin/python bench/search_before_after.py --before <commit> [--size 100000] [--queries 60]

The index holds bench/search.py's synthetic chunks (seed 7). The other commit's
shared/retrieval/embedded.py runs against this tree's other modules. Prints Markdown.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
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
from bench.search import FILTER, WORDS, synthetic_documents  # noqa: E402
from shared.core.types import RetrievalSpec  # noqa: E402
from shared.retrieval.embedded import EmbeddedIndex, fts_query  # noqa: E402
from shared.retrieval.query import SearchOptions  # noqa: E402

TRIMMING = "filename lt 'uploads/' or filename ge 'uploads0'"  # what every search carries
PLAIN = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT 5"
CASES = {  # name: (what the request asks, with the query vector)
    "text (the security trimming only)": (RetrievalSpec(top_k=5, filter=TRIMMING), False),
    "text + filter": (RetrievalSpec(top_k=5, filter=FILTER), False),
    "hybrid (the security trimming only)": (RetrievalSpec(top_k=5, filter=TRIMMING), True),
    "hybrid + filter": (RetrievalSpec(top_k=5, filter=FILTER), True),
}


def module_of(commit: str, folder: Path):
    source = subprocess.run(
        ["git", "show", f"{commit}:shared/retrieval/embedded.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = folder / "embedded_before.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("embedded_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["embedded_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-search-ab-"))
    rng = np.random.default_rng(7)
    documents = list(synthetic_documents(args.size, rng))
    after = EmbeddedIndex(folder / "index.sqlite", "bench")
    after.replace_documents([(name, name, chunks, vectors) for name, chunks, vectors in documents])
    before = module_of(args.before, folder).EmbeddedIndex(folder / "index.sqlite", "bench")
    texts = [" ".join(rng.choice(WORDS[50:2000], size=3)) for _ in range(args.queries)]
    vectors = [documents[rng.integers(len(documents))][2][0] for _ in range(args.queries)]
    options = SearchOptions(default_top_k=5, max_top_k=50)
    load = os.getloadavg()[0]
    times: dict[str, dict[str, list[float]]] = {name: {"before": [], "after": []} for name in CASES}
    plain: list[float] = []
    for index in (before, after):  # vectors loaded, caches warm
        index.search(options.plan("warm up", RetrievalSpec()), vectors[0])
    for text, vector in zip(texts, vectors, strict=True):
        started = time.perf_counter()
        after._db.execute(PLAIN, (fts_query(text),)).fetchall()
        plain.append(time.perf_counter() - started)
        for name, (spec, with_vector) in CASES.items():
            plan = options.plan(text, spec)
            rows = {}
            for label, index in (("before", before), ("after", after)):
                started = time.perf_counter()
                hits = index.search(plan, vector if with_vector else None)
                times[name][label].append(time.perf_counter() - started)
                rows[label] = [(row["id"], round(score, 6)) for row, score in hits.rows]
            assert rows["before"] == rows["after"], (name, text)
    cpu = cpu_model()
    print(f"Machine: {cpu}, {os.cpu_count()} cores; load average {load:.1f} at the start, ", end="")
    print(f"{os.getloadavg()[0]:.1f} at the end; {args.size:,} chunks, {args.queries} queries, results identical")
    print()
    print(f"| query at {args.size:,} chunks | before ({args.before}) p50 | after p50 | after p95 ", end="")
    print("| after / plain FTS5 |")
    print("|---|---|---|---|---|")
    plain_p50 = statistics.median(plain) * 1000
    print(f"| plain FTS5, `ORDER BY bm25 LIMIT 5`, no filter | | {plain_p50:.1f} ms | | 1.00 |")
    for name, runs in times.items():
        b, a = (statistics.median(runs[label]) * 1000 for label in ("before", "after"))
        p95 = float(np.percentile(runs["after"], 95)) * 1000
        print(f"| {name} | {b:.1f} ms | {a:.1f} ms | {p95:.1f} ms | {a / plain_p50:.2f} |")


if __name__ == "__main__":
    main()
