"""How tests/integration/test_functions_worker.py sets up the app for both servers: the settings they share
(a scripted model and embedding deployment, an index the app's ingestion builds, documents in
Azurite, the Function App's own settings) and each side's own state."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from unittest import mock

from tests.conftest import SAMPLE_CORPUS
from tests.support import remote_model_entry
from tests.worker_comparison import DIMENSIONS, EMBEDDING_DEPLOYMENT, GATED_MODEL

MAX_BODY_BYTES = 100_000
AGENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


async def app_settings(folder: Path, scripted, azurite: str) -> dict[str, str]:
    """The app settings both servers run with, and the index they search, built by the app's ingestion."""
    from shared.embeddings.azure_openai import AzureOpenAIEmbeddings
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest
    from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter
    from shared.settings import EmbeddingSettings

    embeddings = {
        "EMBEDDINGS_PROVIDER": "azure_openai",
        "EMBEDDINGS_ENDPOINT": scripted.url,
        "EMBEDDINGS_DEPLOYMENT": EMBEDDING_DEPLOYMENT,
        "EMBEDDINGS_DIMENSIONS": str(DIMENSIONS),
        "EMBEDDINGS_API_KEY": "test-azure-key",
    }
    embedder = AzureOpenAIEmbeddings(
        EmbeddingSettings(**{k.removeprefix("EMBEDDINGS_").lower(): v for k, v in embeddings.items()})
    )
    index = EmbeddedIndex(folder / "index.sqlite", "docs")
    summary = await ingest(SAMPLE_CORPUS, EmbeddedIndexWriter(index), embedder, prune=False, chunker=Chunker())
    assert summary.failed == 0
    models = [
        remote_model_entry(scripted),
        remote_model_entry(scripted, GATED_MODEL, model=GATED_MODEL),
        remote_model_entry(scripted, "vision", supports_multimodal=True),
        remote_model_entry(scripted, "breaks-mid-stream", model="breaks-mid-stream"),
        remote_model_entry(scripted, "garbage", model="garbage"),
    ]
    agent = {"id": AGENT_ID, "name": "bike-helper", "model": "remote", "retrieval": {"top_k": 2}}
    return {
        **embeddings,
        "LLM_PROVIDER": "none",
        "LLM_MODELS": json.dumps(models),
        "LLM_DEFAULT_ALIAS": "remote",
        "AGENTS_DEFINITIONS": json.dumps([agent]),
        "SEARCH_BACKEND": "embedded",
        "SEARCH_INDEX_PATH": str(folder / "index.sqlite"),
        "SOURCES_DOCUMENTS_ROOT": str(SAMPLE_CORPUS),
        "HTTP_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        # Documents in Blob Storage (Azurite), the account the host's blob trigger reads too.
        "AzureWebJobsStorage": azurite,
        "DOCUMENTS_STORE": "blob",
        "DOCUMENTS_CONNECTION_STRING": azurite,
        "AUTH_TRUST_ASSERTED_USERS": "true",  # uploads belong to an identity: the asserted user id
        "TIKTOKEN_CACHE_DIR": str(tiktoken_cache(folder)),
        # As the Function App's settings on Azure (infra/): indexing at init, which streaming needs.
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "PYTHON_ENABLE_INIT_INDEXING": "1",
    }


def tiktoken_cache(folder: Path) -> Path:
    """tiktoken's cache as the app's first token count fills it on Azure (tiktoken downloads its
    file once there), made from the file bpe-openai bundles: nothing is downloaded here."""
    import bpe_openai
    import tiktoken_ext.openai_public as public

    asked: list[str] = []
    with mock.patch.object(public, "load_tiktoken_bpe", lambda path, **_: asked.append(path) or {}):
        public.cl100k_base()
    bundled = Path(bpe_openai.__file__).parent / "data" / "cl100k_base.tiktoken.gz"
    (folder / hashlib.sha1(asked[0].encode()).hexdigest()).write_bytes(gzip.decompress(bundled.read_bytes()))
    return folder


def own_state(settings: dict[str, str], folder: Path, side: str) -> dict[str, str]:
    """A side's settings with its own conversation history and its own copy of the index."""
    index = folder / f"{side}-index.sqlite"
    with closing(sqlite3.connect(settings["SEARCH_INDEX_PATH"])) as source, closing(sqlite3.connect(index)) as copy:
        source.backup(copy)
    history = str(folder / f"{side}-history.sqlite")
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(settings["AzureWebJobsStorage"]) as blobs:
        blobs.create_container(f"docs-{side}")  # as infra/ creates the documents container
    own = {"SEARCH_INDEX_PATH": str(index), "HISTORY_SQLITE_PATH": history, "DOCUMENTS_CONTAINER": f"docs-{side}"}
    if side == "local":  # what the blob trigger does on Azure, the local server's watcher does
        own |= {"DOCUMENTS_WATCH": "true", "DOCUMENTS_WATCH_INTERVAL_SECONDS": "0.5"}
    return settings | own
