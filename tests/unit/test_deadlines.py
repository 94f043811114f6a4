"""A history store that accepts connections and never answers (a Cosmos DB endpoint on a
silent port) costs a request no more than its deadline: a turn answers with the safe
fallback and an errors[] entry of stage history, the sessions endpoints and the
multi-source chat with 503."""

from __future__ import annotations

import time

import pytest

from shared.core.orchestrator import FALLBACK_ANSWER
from tests.conftest import COSMOS_EMULATOR_KEY
from tests.silent_server import SilentServer

DEADLINE = 5
STORE_TIMEOUT = 2
NO_SEARCH = {"fetch_args": {"AzureSearchFetcher": {"top_k": 0}}, "override_config": {"params": {"max_tokens": 4}}}


@pytest.fixture
def hanging_store(configure):
    with SilentServer() as silent:
        configure(
            HISTORY_BACKEND="cosmos",
            HISTORY_COSMOS_ENDPOINT=f"https://127.0.0.1:{silent.port}",
            HISTORY_COSMOS_KEY=COSMOS_EMULATOR_KEY,
            HISTORY_TIMEOUT_SECONDS=str(STORE_TIMEOUT),
            HTTP_DEADLINE_SECONDS=str(DEADLINE),
            AUTH_TRUST_ASSERTED_USERS="true",  # so that GET /api/v2/sessions reaches the store
        )
        yield silent


CHAT_TURNS = [
    (
        "/api/v2/flexible-chat",
        {"question": "Frame?", "ab_testing": {"user_id": "ana", "session_id": "s-1"}, **NO_SEARCH},
    ),
    ("/api/v1/chat", {"sessionId": "s-1", "prompt": "Frame?"}),
]


async def timed(call):
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


@pytest.mark.parametrize(("path", "body"), CHAT_TURNS)
async def test_a_turn_on_a_hanging_store_falls_back_after_the_store_timeout(client, hanging_store, path, body):
    response, elapsed = await timed(client.post(path, json=body))

    data = response.json()
    assert response.status_code == 200
    assert data["answer"] == FALLBACK_ANSWER
    assert [(e["stage"], e["code"]) for e in data["errors"]] == [("history", "history_timeout")]
    assert hanging_store.accepted >= 1  # the store was reached, and waited on
    assert elapsed < DEADLINE + 10  # it came back at all, instead of at the host's 230 s cut


@pytest.mark.parametrize(("path", "body"), CHAT_TURNS)
async def test_the_turn_deadline_bounds_a_store_timeout_set_longer(client, hanging_store, configure, path, body):
    configure(HISTORY_TIMEOUT_SECONDS="200", HTTP_DEADLINE_SECONDS="2")
    response, elapsed = await timed(client.post(path, json=body))

    data = response.json()
    assert response.status_code == 200 and data["answer"] == FALLBACK_ANSWER
    assert data["errors"][0]["stage"] == "history"  # later stages found no time left either
    assert elapsed < 2 + 10


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v2/sessions"), ("GET", "/api/v2/sessions/s-1"), ("DELETE", "/api/v2/sessions/s-1")],
)
async def test_the_sessions_endpoints_answer_503_on_a_hanging_store(client, hanging_store, method, path):
    response, elapsed = await timed(client.request(method, path, params={"user_id": "ana"}))

    assert response.status_code == 503 and response.json()["code"] == "history_timeout"
    assert elapsed < DEADLINE + 10


async def test_the_multi_source_chat_answers_503_on_a_hanging_store(client, hanging_store):
    body = {"query": "Frame?", "context_mode": "none", "max_tokens": 4, "conversation_id": "c-1"}
    response, elapsed = await timed(client.post("/api/v1/chat/complete", json=body))

    assert response.status_code == 503 and response.json()["stage"] == "history"
    assert elapsed < DEADLINE + 10
