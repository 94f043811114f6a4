"""Embedded index benchmark: ingestion throughput and query latency at 10k and 100k chunks.

    .venv/bin/python bench/search.py [--sizes 10000 100000] [--queries 200]

Beside the product: plain FTS5 (`ORDER BY bm25 LIMIT 5`, no filter), and the same searches with
LanceDB and with SQLite FTS5 + sqlite-vec when requirements-bench.txt is installed
(bench/search_others.py).

Chunks are synthetic (words drawn from a Zipf-like vocabulary, 384-dimension unit vectors,
10 categories, 50 tags), written to temporary index files twice: one document per
transaction (as ingestion writes), and all in one batch (a bulk load, indexes built after). Query latency is
EmbeddedIndex.search alone: no HTTP and no query embedding (measured separately, once).
Prints Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402
from bench.search_others import lancedb_timings, sqlite_vec_timings, timed  # noqa: E402
from shared.core.types import Chunk, RetrievalSpec  # noqa: E402
from shared.retrieval.embedded import EmbeddedIndex, fts_query  # noqa: E402
from shared.retrieval.query import SearchOptions  # noqa: E402
from shared.settings import EmbeddingSettings  # noqa: E402

DIMENSIONS = 384
CHUNKS_PER_DOCUMENT = 20
WORDS = [f"w{i}" for i in range(5000)]
WEIGHTS = 1 / np.arange(1, len(WORDS) + 1)
WEIGHTS /= WEIGHTS.sum()
FILTER = "category eq 'c3' and tags/any(t: t eq 'tag7' or t eq 'tag8')"


def synthetic_documents(count: int, rng: np.random.Generator):
    for d in range(count // CHUNKS_PER_DOCUMENT):
        filename = f"doc-{d}.md"
        words = rng.choice(WORDS, size=(CHUNKS_PER_DOCUMENT, 120), p=WEIGHTS)
        vectors = rng.standard_normal((CHUNKS_PER_DOCUMENT, DIMENSIONS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [
            Chunk(filename, f"Document {d}", i, None, " ".join(words[i]), str(d), f"c{d % 10}", tags)
            for i, tags in enumerate(
                tuple(f"tag{t}" for t in rng.choice(50, size=3, replace=False)) for _ in range(CHUNKS_PER_DOCUMENT)
            )
        ]
        yield filename, chunks, list(vectors)


def new_filters(rng: np.random.Generator, count: int) -> list[str]:
    """A category and two tags, as narrow as FILTER, no two alike: a search remembers what it found
    out about a filter until the index changes, and these show the cost of a filter seen first."""
    chosen: set[str] = {FILTER}
    while len(chosen) < count + 1:
        a, b = rng.choice(50, size=2, replace=False)
        chosen.add(f"category eq 'c{rng.integers(10)}' and tags/any(t: t eq 'tag{a}' or t eq 'tag{b}')")
    return sorted(chosen - {FILTER})


def percentile(samples: list[float], p: float) -> float:
    return float(np.percentile(samples, p)) * 1000


def bench_size(size: int, queries: int, rng: np.random.Generator) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-index-"))
    documents = list(synthetic_documents(size, rng))
    # As ingestion writes: one transaction per document.
    one_by_one = EmbeddedIndex(folder / "one-by-one.sqlite", "bench")
    started = time.perf_counter()
    for filename, chunks, vectors in documents:
        one_by_one.replace_document(filename, filename, chunks, vectors)
    results: dict[str, float] = {"chunks_per_second": size / (time.perf_counter() - started)}
    # A bulk load: every document in one batch, the indexes built after the rows.
    index = EmbeddedIndex(folder / "index.sqlite", "bench")
    started = time.perf_counter()
    index.replace_documents([(filename, filename, chunks, vectors) for filename, chunks, vectors in documents])
    results["build_seconds"] = time.perf_counter() - started

    query_texts = [" ".join(rng.choice(WORDS[50:2000], size=3)) for _ in range(queries)]
    query_vectors = [documents[rng.integers(len(documents))][2][0] for _ in range(queries)]
    cases = {
        "text": (RetrievalSpec(top_k=5), False),
        "text + filter": (RetrievalSpec(top_k=5, filter=FILTER), False),
        "vector": (RetrievalSpec(top_k=5, query="*"), True),
        "hybrid": (RetrievalSpec(top_k=5), True),
        "hybrid + filter": (RetrievalSpec(top_k=5, filter=FILTER), True),
        "hybrid + filter + count + facets": (
            RetrievalSpec(top_k=5, filter=FILTER, include_total_count=True, facets=("tags,count:5",)),
            True,
        ),
        "hybrid + a filter no query used before": (None, True),
    }
    fresh = new_filters(np.random.default_rng(size), queries)  # its own generator: the chunks stay as before
    options = SearchOptions(default_top_k=5, max_top_k=50)
    index.search(options.plan("warm up", RetrievalSpec()), query_vectors[0])  # loads the vectors once
    for name, (spec, with_vector) in cases.items():
        timings = []
        for q, (text, vector) in enumerate(zip(query_texts, query_vectors, strict=True)):
            plan = options.plan(text, spec or RetrievalSpec(top_k=5, filter=fresh[q]))
            t = time.perf_counter()
            index.search(plan, vector if with_vector else None)
            timings.append(time.perf_counter() - t)
        results[f"{name} p50"] = percentile(timings, 50)
        results[f"{name} p95"] = percentile(timings, 95)
    queries = list(zip(query_texts, query_vectors, strict=True))
    plain = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT 5"
    others = {
        "plain FTS5": {"text": timed(lambda text, _: index._db.execute(plain, (fts_query(text),)).fetchall(), queries)},
        "LanceDB": lancedb_timings(documents, queries),
        "SQLite FTS5 + sqlite-vec": sqlite_vec_timings(folder / "index.sqlite", FILTER, queries),
    }
    for engine, timings_by_case in others.items():
        for name, timings in timings_by_case.items():
            results[f"{engine}: {name} p50"] = percentile(timings, 50)
            results[f"{engine}: {name} p95"] = percentile(timings, 95)
    return results


def embedding_rate() -> tuple[float, float]:
    """(chunks per second in batches of 32, milliseconds per query) for the embedded model, on
    the sample corpus's real chunks (synthetic words tokenize far longer than real text)."""
    from shared.embeddings.embedded import EmbeddedEmbeddings
    from shared.ingest.chunking import Chunker
    from shared.ingest.extract import extract
    from shared.ingest.pipeline import find_files

    model = EmbeddedEmbeddings(EmbeddingSettings(cache_size=0))
    chunker = Chunker()
    files = find_files(ROOT / "samples" / "corpus").values()
    corpus = [chunk for path in files for page in extract(path).pages for chunk in chunker.split(page.text)]
    passages = (corpus * (128 // len(corpus) + 1))[:128]
    t = time.perf_counter()
    for start in range(0, len(passages), 32):
        asyncio.run(model.embed_documents(passages[start : start + 32]))
    rate = len(passages) / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(50):
        asyncio.run(model.embed_query("how long does the battery last"))
    return rate, (time.perf_counter() - t) / 50 * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    embed_rate, query_ms = embedding_rate()
    cpu = cpu_model()
    print(
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {__import__('sqlite3').sqlite_version}; load average {os.getloadavg()[0]:.1f} at the start"
    )
    print()
    print(
        f"Embedding ({EmbeddingSettings().model}, real ~200-token chunks): {embed_rate:.0f} chunks/s; "
        f"{query_ms:.0f} ms per query"
    )
    print()
    rows = {size: bench_size(size, args.queries, rng) for size in args.sizes}
    print("| chunks | index build, one batch | one document per transaction | including embedding |")
    print("|---|---|---|---|")
    for size, r in rows.items():
        with_embedding = 1 / (1 / r["chunks_per_second"] + 1 / embed_rate)
        print(
            f"| {size:,} | {r['build_seconds']:.1f} s ({size / r['build_seconds']:,.0f} chunks/s) "
            f"| {r['chunks_per_second']:,.0f} chunks/s | {with_embedding:,.0f} chunks/s |"
        )
    print()
    print("| chunks | query | p50 | p95 |")
    print("|---|---|---|---|")
    for size, r in rows.items():
        names = [key.removesuffix(" p50") for key in r if key.endswith(" p50")]
        for i, name in enumerate(names):
            lead = f"{size:,}" if i == 0 else ""
            print(f"| {lead} | {name} | {r[name + ' p50']:.1f} ms | {r[name + ' p95']:.1f} ms |")
    print()
    print(f"Load average at the end: {os.getloadavg()[0]:.1f}")
    print()
    print(
        f"Filter: `{FILTER}`; top 5; 3-word queries. The product's searches (no engine named) carry the "
        "security trimming as every search does (`filename lt 'uploads/' or filename ge 'uploads0'`, "
        "which lets every synthetic chunk through), ANDed with the filter where one is named."
    )


if __name__ == "__main__":
    main()
