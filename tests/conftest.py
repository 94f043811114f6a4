"""The fixtures of both tiers (tests/unit/, tests/integration/). Every test runs on the embedded
defaults against a private index holding the sample corpus, built once per session by the real
ingestion code. Helpers live beside this file (servers.py, support.py, recording_server.py, ...)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

# Settings are read once per process: point them at a throwaway index before anything loads them.
_DATA = Path(tempfile.mkdtemp(prefix="rag-tests-"))
os.environ["SEARCH_INDEX_PATH"] = str(_DATA / "index.sqlite")
os.environ["HISTORY_SQLITE_PATH"] = str(_DATA / "history.sqlite")
# No test may reach Azure's managed-identity endpoint: DefaultAzureCredential keeps to
# developer credentials (none here), so a misconfigured test fails fast and sends nothing.
os.environ["AZURE_TOKEN_CREDENTIALS"] = "dev"
# The suite exercises the model's own answers (parameters, tokens, streamed pieces): the
# embedded default's extractive answers are tested on the ground truth (test_quality.py).
os.environ.setdefault("LLM_ANSWER_STRATEGY", "generative")

import httpx  # noqa: E402

from devtools.servers import free_port, serving  # noqa: E402
from shared.config import PROJECT_ROOT  # noqa: E402

SAMPLE_CORPUS = PROJECT_ROOT / "samples" / "corpus"


# Every key, token and connection string a test hands the app. None may appear in a log line.
TEST_SECRETS = (
    "test-key",
    "test-azure-key",
    "test-query-key",
    "test-openai-key",
    "sk-secret-value",
    "good-key",
    "a2V5",
)


class _LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the message with its traceback, if any


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log_line():
    """Captures every log record of the whole run (INFO and up), then checks it for the test
    secrets: the emulator keys, and every key the tests configure."""
    handler = _LogLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield
    root.removeHandler(handler)
    root.setLevel(level)
    secrets = (*TEST_SECRETS, AZURITE_KEY, COSMOS_EMULATOR_KEY)
    leaks = [(secret[:6] + "…", line[:300]) for line in handler.lines for secret in secrets if secret in line]
    assert not leaks, f"secrets in the logs: {leaks[:5]}"


@pytest.fixture(scope="session")
async def sample_index():
    from shared import backends
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest
    from shared.retrieval.embedded import EmbeddedIndexWriter

    index = backends.search_index()
    summary = await ingest(
        SAMPLE_CORPUS, EmbeddedIndexWriter(index), backends.embeddings(), prune=False, chunker=Chunker()
    )
    assert summary.failed == 0
    return index


@pytest.fixture(scope="session")
def asgi_app():
    from devtools.local_server import build_app

    return build_app()


@pytest.fixture
def configure(monkeypatch):
    """Run the app in-process with other settings for one test: configure(NAME="value", ...).

    Settings and every backend client are built again from the new environment, and once
    more after the test, from the original one."""
    from shared import backends

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        backends.rebuild()

    yield apply
    monkeypatch.undo()
    backends.rebuild()


@pytest.fixture
async def client(asgi_app, sample_index):
    transport = httpx.ASGITransport(app=asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def sdk(asgi_app, sample_index):
    """The real openai SDK (AsyncOpenAI), talking to the app in process."""
    import openai

    transport = httpx.ASGITransport(app=asgi_app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=120) as http,
        openai.AsyncOpenAI(base_url="http://testserver/api/v1", api_key="x", http_client=http, max_retries=0) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def served(request, sample_index, tmp_path_factory):
    """(the local server's base URL, its scripted OpenAI-compatible model), one server per module
    (tests/openai_scripted_model.py says which aliases it has). The module's SERVER_SETTINGS
    (a dict of settings) and SERVER_ALIASES (more aliases of the scripted model) apply."""
    from tests.openai_scripted_model import serving

    settings = getattr(request.module, "SERVER_SETTINGS", {})
    aliases = getattr(request.module, "SERVER_ALIASES", ())
    with serving(tmp_path_factory.mktemp("history"), aliases=aliases, **settings) as server:
        yield server


# Azurite's well-known development account (public, documented; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="session")
def azurite():
    """A real Blob Storage service (Azurite, installed by `make test` from package.json); its connection string."""
    binary = PROJECT_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        if os.environ.get("CI"):
            pytest.fail("Azurite is not installed: `make test` installs it with npm")
        pytest.skip("Azurite is not installed; run `npm ci` or `make test`")
    port = free_port()
    command = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]
    with serving(command, port, "Azurite", timeout=30):
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )


# The Cosmos DB emulator's well-known account key (public, documented; not a secret).
# The local emulator below accepts any key; this one keeps the clients' code unchanged.
COSMOS_EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


@pytest.fixture(scope="session")
def cosmos_emulator():
    """An in-memory Cosmos DB (@vercel/cosmosdb-server via tests/cosmos_emulator.js, installed by
    `make test` from package.json); its HTTPS endpoint, with a self-signed certificate."""
    if not (PROJECT_ROOT / "node_modules" / "@vercel" / "cosmosdb-server").exists():
        if os.environ.get("CI"):
            pytest.fail("The Cosmos DB emulator is not installed: `make test` installs it with npm")
        pytest.skip("The Cosmos DB emulator is not installed; run `npm ci` or `make test`")
    port = free_port()
    command = ["node", str(PROJECT_ROOT / "tests" / "cosmos_emulator.js"), "--port", str(port)]
    with serving(command, port, "Cosmos DB emulator", timeout=30):
        yield f"https://127.0.0.1:{port}"


# The identity tests' issuer and secured index, for both tiers.
from tests.issuer import issuer, secured_index  # noqa: E402, F401
