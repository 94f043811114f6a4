"""Shared fixtures. Every test runs on the embedded defaults against a private index
holding the sample corpus, built once per session by the real ingestion code."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Settings are read once per process: point them at a throwaway index before anything loads them.
_DATA = Path(tempfile.mkdtemp(prefix="rag-tests-"))
os.environ["SEARCH_INDEX_PATH"] = str(_DATA / "index.sqlite")

import httpx  # noqa: E402

from shared.config import PROJECT_ROOT  # noqa: E402

SAMPLE_CORPUS = PROJECT_ROOT / "samples" / "corpus"


@pytest.fixture(scope="session")
async def sample_index():
    from shared import backends
    from shared.ingest.__main__ import ingest
    from shared.ingest.chunking import Chunker

    summary = await ingest(SAMPLE_CORPUS, prune=False, chunker=Chunker())
    assert summary.failed == 0
    return backends.search_index()


@pytest.fixture(scope="session")
def asgi_app():
    from shared.local_server import build_app

    return build_app()


@pytest.fixture
async def client(asgi_app, sample_index):
    transport = httpx.ASGITransport(app=asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
