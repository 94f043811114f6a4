"""Ranking quality of the embedded index: full-text, vector and hybrid search, by nDCG@10.

Two sets, each indexed by the project's own ingestion into its own index file:

    python bench/retrieval_quality.py faq            # the CPython FAQ (Debian's python3.11-doc)
    python bench/retrieval_quality.py ground-truth   # samples/ground_truth.jsonl over samples/corpus

The FAQ set: every section of the FAQ pages is a document (its own text, without its heading
or subsections); every heading that is a question is a query, whose one relevant document is
the section under it. Install the pages with `apt-get install -y python3.11-doc`.
Reciprocal rank fusion is swept over weights, candidate counts and k, to choose the defaults
(shared/retrieval/query.py) by measurement. Metrics by ranx; documents count once per query.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ranx import Qrels, Run, evaluate  # noqa: E402

from shared import backends  # noqa: E402
from shared.config import DATA_DIR, PROJECT_ROOT  # noqa: E402
from shared.core.types import RetrievalSpec  # noqa: E402
from shared.ingest.chunking import Chunker  # noqa: E402
from shared.ingest.pipeline import ingest  # noqa: E402
from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter, reciprocal_rank_fusion  # noqa: E402
from shared.retrieval.query import FUSION_CANDIDATES, RRF_K, SearchOptions  # noqa: E402

FAQ_PAGES = Path("/usr/share/doc/python3.11/html/faq")
DEPTH = 100  # candidates read from each ranking; fusion sweeps take their top slices


def faq_set(folder: Path) -> dict[str, str]:
    """Writes one file per FAQ section into `folder`; returns {file name: question} for the
    sections whose heading is a question."""
    from bs4 import BeautifulSoup

    queries = {}
    for page in sorted(FAQ_PAGES.glob("*.html")):
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for number, section in enumerate(soup.select("section")):
            heading = section.find(re.compile(r"h[1-6]"))
            for nested in section.find_all("section"):
                nested.extract()
            if heading is None:
                continue
            question = " ".join(heading.get_text(" ").replace("¶", "").split())
            heading.extract()
            text = " ".join(section.get_text(" ").split())
            if len(text.split()) < 5:
                continue
            name = f"{page.stem}-{number:03d}.txt"
            (folder / name).write_text(text)
            if question.endswith("?"):
                queries[name] = question
    return queries


def ground_truth_set(path: Path = PROJECT_ROOT / "samples" / "ground_truth.jsonl") -> tuple[dict, dict]:
    """The ground truth's standalone answerable questions (first turns) and their documents."""
    from devtools.evaluate.scoring import load_cases

    queries, qrels = {}, {}
    for case in load_cases(path):
        turn = case.turns[0]
        if turn.answerable:
            queries[case.id] = turn.question
            qrels[case.id] = dict.fromkeys(turn.documents, 1)
    return queries, qrels


async def build_index(folder: Path, path: Path) -> EmbeddedIndex:
    index = EmbeddedIndex(path, path.stem)
    await ingest(folder, EmbeddedIndexWriter(index), backends.embeddings(), prune=True, chunker=Chunker())
    return index


async def rankings(index: EmbeddedIndex, queries: dict[str, str]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """For each query, the full-text and vector rankings of (chunk id, file name), DEPTH deep."""
    from shared.retrieval.embedded import EmbeddedRetriever

    retriever = EmbeddedRetriever(index, backends.embeddings(), SearchOptions(DEPTH, DEPTH))
    found: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for qid, question in queries.items():
        text = await retriever.search(question, RetrievalSpec(vector_search=False, select_fields=("filename",)))
        vector = await retriever.search(question, RetrievalSpec(vector_only=True, select_fields=("filename",)))
        found[qid] = {
            "text": [(s.id, s.fields["filename"]) for s in text.sources],
            "vector": [(s.id, s.fields["filename"]) for s in vector.sources],
        }
    return found


def ndcg(ranked: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    run = {
        q: {f: 1.0 / r for r, f in enumerate(dict.fromkeys(files), start=1)} or {"(none)": 1.0}
        for q, files in ranked.items()
    }
    return float(evaluate(Qrels(qrels), Run(run), "ndcg@10", make_comparable=True))


def fused(found, candidates: int, k: int, vector_weight: float) -> dict[str, list[str]]:
    """The files in the order the index's fusion of chunk rankings puts them."""
    out = {}
    for qid, lists in found.items():
        text, vector = lists["text"][:candidates], lists["vector"][:candidates]
        files = dict(text + vector)
        rowid = {chunk: i for i, chunk in enumerate(files)}
        chunks = list(files)
        scores = reciprocal_rank_fusion(
            [rowid[c] for c, _ in text], [rowid[c] for c, _ in vector], k=k, weights=(1.0, vector_weight)
        )
        out[qid] = [files[chunks[i]] for i, _ in scores]
    return out


def report(name: str, found, qrels) -> None:
    """nDCG@10 of each ranking, hybrid as configured (SEARCH_VECTOR_WEIGHT), and the sweep."""
    weight = backends.get_settings().search.vector_weight
    text = ndcg({q: [f for _, f in v["text"]] for q, v in found.items()}, qrels)
    vector = ndcg({q: [f for _, f in v["vector"]] for q, v in found.items()}, qrels)
    hybrid = ndcg(fused(found, FUSION_CANDIDATES, RRF_K, weight), qrels)
    print(f"\n{name}: {len(found)} queries")
    print(f"| nDCG@10 | text | vector | hybrid (k {RRF_K}, {FUSION_CANDIDATES} each, vector weight {weight}) |")
    print(f"|---|---|---|---|\n| | {text:.3f} | {vector:.3f} | {hybrid:.3f} |")
    print("\nsweep (candidates, k, vector weight): nDCG@10")
    for candidates, k, weight in itertools.product((50, 100), (10, 30, 60), (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)):
        print(f"  {candidates:3d} {k:3d} {weight:.1f}: {ndcg(fused(found, candidates, k, weight), qrels):.3f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=("faq", "ground-truth"))
    args = parser.parse_args()
    bench = DATA_DIR / "bench"
    if args.set == "faq":
        with tempfile.TemporaryDirectory() as folder:
            queries = faq_set(Path(folder))
            index = await build_index(Path(folder), bench / "faq.sqlite")
        qrels = {name: {name: 1} for name in queries}
        print(f"{index.chunk_count()} chunks")
    else:
        queries, qrels = ground_truth_set()
        index = await build_index(PROJECT_ROOT / "samples" / "corpus", bench / "ground-truth.sqlite")
    report(args.set, await rankings(index, queries), qrels)


if __name__ == "__main__":
    asyncio.run(main())
