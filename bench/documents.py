"""Documents: time from upload to searchable (local server, embedded index), and PDF chunks per second.

    .venv/bin/python bench/documents.py [--uploads 10] [--pdf FILE ...] [--pages 40]

Upload to searchable: the app's local server in a process of its own (asserted users
trusted, a fresh index and document folder); each round uploads a Markdown file with a fact
of its own (POST /api/v2/documents), then asks for that fact (POST /api/v2/flexible-rag as
the owner) until a source is the upload. It reports the upload's answer time, the time from
sending the upload to the first answer that finds it, and whether another user found it.

PDF chunks per second: the upload's own pipeline in this process (DocumentIndexer: extract
with pypdf, chunk, embed, write one transaction) over each --pdf file, or, without one, a PDF
of --pages pages of real text written here. Reports chunks/s for the whole and for
extraction and chunking alone. Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingestion import source_text  # noqa: E402


def upload_to_searchable(uploads: int) -> list[dict[str, float]]:
    from devtools.servers import running_in_background

    data = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    env = {
        **os.environ,
        "AUTH_TRUST_ASSERTED_USERS": "true",
        "DOCUMENTS_DIR": str(data / "documents"),
        "SEARCH_INDEX_PATH": str(data / "index.sqlite"),
        "HISTORY_SQLITE_PATH": str(data / "history.sqlite"),
    }
    rounds = []
    with running_in_background(env=env) as base, httpx.Client(base_url=base, timeout=60) as client:
        for n in range(uploads):
            word = f"quorvex{n:03d}"
            text = f"# Courier {word}\n\nThe {word} courier delivers spare batteries within {n + 2} days.\n"
            started = time.perf_counter()
            answer = client.post(
                "/api/v2/documents", params={"user_id": "alice"}, files={"file": (f"{word}.md", text.encode())}
            )
            answered = time.perf_counter()
            answer.raise_for_status()
            name, asked = answer.json()["name"], 0
            while name not in found(client, "alice", word):
                asked += 1
            searchable = time.perf_counter()
            leaked = name in found(client, "bob", word)
            rounds.append(
                {"answer": answered - started, "searchable": searchable - started, "asked": asked, "leaked": leaked}
            )
    return rounds


def found(client: httpx.Client, user: str, word: str) -> set[str]:
    body = {"question": f"Which courier is {word}?", "ab_testing": {"user_id": user}}
    response = client.post("/api/v2/flexible-rag", json=body)
    response.raise_for_status()
    return {source["filename"] for source in response.json()["metadata"]}


def pdf_of(pages: int) -> bytes:
    """A PDF of `pages` pages of real text (Helvetica, ~45 lines a page), written by hand."""
    words = re.sub(r"\s+", " ", source_text()).split(" ")
    lines = [" ".join(words[i : i + 14]) for i in range(0, len(words), 14)]
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for page in range(pages):
        chosen = [lines[(page * 45 + i) % len(lines)] for i in range(45)]
        escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in chosen]
        shown = " ".join(f"({t.encode('latin-1', 'replace').decode('latin-1')}) '" for t in escaped)
        stream = f"BT /F1 9 Tf 11 TL 40 800 Td {shown} ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {len(objects)} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {pages} >>"
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1", "replace")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


async def pdf_throughput(name: str, data: bytes) -> dict[str, float]:
    from shared import backends
    from shared.ingest.documents import DocumentIndexer, DocumentLimits
    from shared.ingest.pipeline import DocumentMetadata
    from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter

    index = EmbeddedIndex(Path(tempfile.mkdtemp(prefix="bench-pdf-")) / "index.sqlite", "bench")
    limits = DocumentLimits(max_bytes=len(data) + 1, max_pages=100_000, max_chunks=1_000_000)
    indexer = DocumentIndexer(EmbeddedIndexWriter(index), backends.embeddings(), limits)
    metadata = DocumentMetadata()
    await indexer.prepare("warm-up.md", b"# Warm-up\n\nLoads the tokenizer.", metadata, "w")  # not timed
    started = time.perf_counter()
    prepared = await indexer.prepare(name, data, metadata, "h")
    extracted = time.perf_counter()
    await indexer.commit(prepared, extracted)
    done = time.perf_counter()
    chunks = len(prepared.chunks)
    return {
        "chunks": chunks,
        "pages": max(c.page or 1 for c in prepared.chunks),
        "extract_chunk": chunks / (extracted - started),
        "whole": chunks / (done - started),
        "seconds": done - started,
    }


def report_uploads(rounds: list[dict[str, float]]) -> None:
    print(f"\n### Upload to searchable ({len(rounds)} uploads, local server, embedded index)\n")
    print("| measure | median | max |\n|---|---|---|")
    for key, label in (("answer", "upload answered (s)"), ("searchable", "upload sent to found by its owner (s)")):
        values = [r[key] for r in rounds]
        print(f"| {label} | {statistics.median(values):.3f} | {max(values):.3f} |")
    print(f"\nQuestions asked after the answer before one found it: {max(r['asked'] for r in rounds)} at most;")
    print(f"another user found it: {sum(r['leaked'] for r in rounds)} of {len(rounds)} times.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=10, help="0 skips the upload measurement")
    parser.add_argument("--pdf", type=Path, action="append", default=[])
    parser.add_argument("--pages", type=int, default=40)
    args = parser.parse_args()

    machine = platform.processor() or platform.machine()
    print(f"Machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.uploads:
        report_uploads(upload_to_searchable(args.uploads))

    pdfs = [(p.name, p.read_bytes()) for p in args.pdf] or [(f"generated-{args.pages}-pages.pdf", pdf_of(args.pages))]
    print("\n### PDF chunks per second (extract, chunk, embed, write)\n")
    print("| PDF | pages | chunks | chunks/s whole | chunks/s extract+chunk | seconds |\n|---|---|---|---|---|---|")
    for name, data in pdfs:
        r = asyncio.run(pdf_throughput(name, data))
        print(
            f"| {name} | {r['pages']} | {r['chunks']} | {r['whole']:.1f} | {r['extract_chunk']:.1f} "
            f"| {r['seconds']:.2f} |"
        )


if __name__ == "__main__":
    main()
