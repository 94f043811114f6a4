"""Index a folder of .md/.txt/.html/.pdf files into the configured search index.

    python -m devtools.ingest [FOLDER] [--prune] [--source NAME] [--default-principal ID ...]

The pipeline is shared.ingest.pipeline (its docstring says what a run does, and what a file's
`.meta.json` holds); this is its command, with a progress bar.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

from tqdm import tqdm

from shared import backends
from shared.config import PROJECT_ROOT
from shared.core.errors import RequestError
from shared.ingest.chunking import Chunker
from shared.ingest.pipeline import Summary, ingest

log = logging.getLogger("ingest")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=PROJECT_ROOT / "samples" / "corpus")
    parser.add_argument("--prune", action="store_true", help="remove indexed documents whose files are gone")
    parser.add_argument("--chunk-tokens", type=int, default=200)
    parser.add_argument("--overlap-tokens", type=int, default=30)
    parser.add_argument(
        "--source", help="a named source of POST /api/v1/chat/complete (SOURCES_DEFINITIONS) instead of the main index"
    )
    parser.add_argument(
        "--default-principal",
        action="append",
        default=[],
        metavar="ID",
        help="a user or group id for files whose .meta.json lists no allowed_principals (repeatable; "
        "default: none, so under security trimming no one finds those files)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")

    async def run() -> tuple[Summary, str, int]:
        index = backends.index_writer(args.source)
        try:
            chunker = Chunker(args.chunk_tokens, args.overlap_tokens)
            summary = await ingest(
                args.folder,
                index,
                backends.embeddings(),
                prune=args.prune,
                chunker=chunker,
                default_principals=tuple(args.default_principal),
                progress=lambda total: tqdm(total=total, desc="Indexing", unit="file"),
            )
            return summary, index.name, await index.chunk_count()
        finally:
            await index.close()

    started = time.perf_counter()
    try:
        summary, index_name, chunk_count = asyncio.run(run())
    except RequestError as exc:  # e.g. an unknown --source
        parser.error(exc.message)
    log.info(
        "indexed %d file(s) (%d chunks), %d unchanged, %d removed, %d failed in %.1f s; index %r now holds %d chunks",
        summary.indexed,
        summary.chunks,
        summary.unchanged,
        summary.removed,
        summary.failed,
        time.perf_counter() - started,
        index_name,
        chunk_count,
    )
    if summary.unshared:
        log.warning(
            "%d file(s) list no allowed_principals and no --default-principal was given: where "
            "SEARCH_SECURITY_FIELD is set (every Azure deployment), no one finds them",
            summary.unshared,
        )


if __name__ == "__main__":
    main()
