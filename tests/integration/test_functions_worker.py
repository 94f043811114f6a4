"""Every endpoint family through the Azure Functions Python worker's own invocation path.

tests/functions_host/host.py plays the Functions host in front of azure-functions-runtime
(Python 3.13, with what requirements.txt installs: HOSTLOAD_PYTHON): it initializes the
worker with HTTP streaming, indexes and loads every function, enforces the function key, and
invokes each request as the host does, the InvocationRequest and the raw HTTP request to the
worker's own server at the same time. The local server (devtools/local_server.py) runs in the
same Python with the same settings. Every request goes to both, and the answers must be the
same: status, headers that matter, body (ids and timings aside), stream events in order.

Both use a scripted OpenAI-compatible model and scripted Azure OpenAI embeddings (neither the
embedded model nor the embedder is deployed to Azure) over one index built by the app's own
ingestion. docs/testing.md says what this proves and what it does not.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devtools.servers import free_port, serving
from shared.config import PROJECT_ROOT
from tests.recording_server import RecordingServer
from tests.support import configured_python, sse_events
from tests.worker_comparison import (
    EMBEDDING_DEPLOYMENT,
    GATED_MODEL,
    KEY,
    Pair,
    Scripted,
    assert_equal,
    assert_same,
    chunk_ids,
    exchange,
    host_status,
    openai_clients,
    run_function,
    same,
    wait_until,
    without,
)
from tests.worker_setup import AGENT_ID, MAX_BODY_BYTES, app_settings, own_state

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def python313() -> str:
    python = configured_python("HOSTLOAD_PYTHON", "the worker tests")
    probe = subprocess.run([python, "-c", "import azure_functions_runtime, grpc_tools, uvicorn, httpx"], check=False)
    assert probe.returncode == 0, f"{python} lacks azure-functions-runtime or grpcio-tools: run `make test`"
    return python


@pytest.fixture(scope="module")
def scripted():
    responder = Scripted()
    with RecordingServer(responder) as server:
        server.gate = responder.gate
        yield server


@pytest.fixture(scope="module")
async def settings(tmp_path_factory, scripted, azurite) -> dict[str, str]:
    return await app_settings(tmp_path_factory.mktemp("worker"), scripted, azurite)


@pytest.fixture(scope="module")
def servers(python313, settings, tmp_path_factory) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("state")
    local_port, host_port = free_port(), free_port()
    local = [python313, "-m", "devtools.local_server", "--port", str(local_port)]
    host = [python313, str(PROJECT_ROOT / "tests" / "functions_host" / "host.py"), "--port", str(host_port)]
    local_env = own_state(settings, folder, "local")
    host_env = own_state(settings, folder, "worker") | {"FUNCTIONS_TEST_HOST_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    output = folder / "worker.log"
    with (
        output.open("w+b") as log,
        serving(local, local_port, "the local server (Python 3.13)", timeout=120, env=local_env),
        serving(host, host_port, "the test host and the worker", timeout=120, env=host_env, log=log),
    ):
        yield Pair(f"http://127.0.0.1:{local_port}", f"http://127.0.0.1:{host_port}", output)


# --- comparing ------------------------------------------------------------------------------


def test_the_worker_starts_streaming_and_loads_every_function(servers):
    from devtools.local_server import app_functions

    status = host_status(servers)

    assert status["capabilities"]["HttpUri"].startswith("http://127.0.0.1:")
    assert status["capabilities"]["RequiresRouteParameters"] == "true"
    loaded = {f["name"] for f in status["functions"]} | set(status["triggered_functions"])
    assert loaded == {f.get_function_name() for f in app_functions()}
    levels = {f["name"]: f["auth_level"] for f in status["functions"]}
    assert levels["playground"] == "anonymous" and levels["flexible_rag"] == "function"


def test_the_function_key_guards_the_api_and_not_the_pages(servers):
    without_key = httpx.get(f"{servers.worker}/api/v2/models", timeout=30)
    wrong_key = httpx.get(f"{servers.worker}/api/v2/models", params={"code": "wrong"}, timeout=30)
    key_in_query = httpx.get(f"{servers.worker}/api/v2/models", params={"code": KEY}, timeout=30)
    page = httpx.get(f"{servers.worker}/api/playground", timeout=30)

    assert (without_key.status_code, wrong_key.status_code) == (401, 401)
    assert key_in_query.status_code == 200 and page.status_code == 200


def test_the_function_key_stays_out_of_the_worker_s_output(servers):
    """The worker's own HTTP server logs every request it serves; the host collects what the worker
    writes. A key in the query string (`?code=`, as the pages are opened) must not be in it."""
    assert httpx.get(f"{servers.worker}/api/playground", params={"code": KEY}, timeout=30).status_code == 200
    host_status(servers)  # the invocation is done, and its access line written

    output = servers.worker_output.read_text(errors="replace")
    assert "/api/playground?code=*** HTTP/1.1" in output and KEY not in output


# --- every endpoint family -------------------------------------------------------------------


def test_flexible_rag_answer(servers):
    question, correlation = {"question": "How long is the frame warranty?"}, {"x-correlation-id": "c-1"}
    local, worker = exchange(servers, "POST", "/api/v2/flexible-rag", json=question, headers=correlation)
    body = assert_same(local, worker)

    assert body["errors"] == [] and body["answer"].startswith("Echo")
    assert "warranty-policy.md" in {m["filename"] for m in body["metadata"]}
    assert local.headers["x-correlation-id"] == worker.headers["x-correlation-id"] == "c-1"


def test_a_body_sent_in_pieces(servers):
    def pieces():  # no Content-Length: the host passes the body on as it arrives
        yield b'{"question": "How long is the '
        yield b'frame warranty?"}'

    body = same(servers, "POST", "/api/v2/flexible-rag", content=pieces, headers=JSON)

    assert body["response_metadata"]["question"] == "How long is the frame warranty?"


def test_concurrent_calls_each_get_their_own_answer(servers):
    """The worker pairs each proxied request with its invocation by the invocation id: calls in
    flight together must not get each other's answers."""
    questions = [f"Question {n}: how long is the frame warranty?" for n in range(6)]

    def ask(question: str) -> str:
        answer = httpx.post(
            f"{servers.worker}/api/v2/flexible-rag",
            json={"question": question, "stream": True},
            headers={"x-functions-key": KEY},
            timeout=120,
        )
        return sse_events(answer.text.splitlines())[-1][1]["response_metadata"]["question"]

    with ThreadPoolExecutor(len(questions)) as pool:
        assert list(pool.map(ask, questions)) == questions


def test_flexible_rag_stream(servers):
    question = {"question": "How do I charge the battery?", "stream": True}
    events = same(servers, "POST", "/api/v2/flexible-rag", json=question)

    assert [name for name, _ in events][:2] == ["accepted", "sources"] and events[-1][0] == "final"
    assert any(name == "delta" for name, _ in events)


def test_a_model_failing_before_and_during_the_stream(servers):
    """A model answering an HTML page (before anything is sent), and one whose stream breaks after
    its first piece: the same fallback answer, and the same error event ending the stream."""
    question = {"question": "How long is the frame warranty?"}
    plain = same(servers, "POST", "/api/v2/flexible-rag", json={**question, "override_config": {"llm": "garbage"}})
    broken = {**question, "stream": True, "override_config": {"llm": "breaks-mid-stream"}}
    events = same(servers, "POST", "/api/v2/flexible-rag", json=broken)

    assert plain["errors"][0]["stage"] == "generation"
    assert ("delta", {"text": "The fr"}) in events and events[-1][0] == "error"


def test_a_stream_reaches_the_client_through_the_proxy_as_it_is_produced(servers, scripted):
    """The model holds the rest of its answer until the client has read the first delta: a proxy
    that buffered the response would wait forever (here: time out)."""
    body = {"question": "How long is the frame warranty?", "stream": True, "override_config": {"llm": GATED_MODEL}}
    headers = {"x-functions-key": KEY}
    for _, base in servers.each():
        scripted.gate.clear()
        names = []
        with httpx.stream("POST", f"{base}/api/v2/flexible-rag", json=body, headers=headers, timeout=60) as response:
            for line in response.iter_lines():  # each event as it arrives
                if line.startswith("event: "):
                    names.append(line.removeprefix("event: "))
                elif names[-1:] == ["delta"] and not scripted.gate.is_set():
                    assert json.loads(line.removeprefix("data: "))["text"] == "Ten"
                    scripted.gate.set()
        assert names[-1] == "final" and names.count("delta") == 2


def test_flexible_chat_turn_and_the_session_read_back(servers):
    turn = {"question": "How long is the frame warranty?", "ab_testing": {"user_id": "ana", "session_id": "w-1"}}
    answer = same(servers, "POST", "/api/v2/flexible-chat", json=turn)
    session = same(servers, "GET", "/api/v2/sessions/w-1", params={"user_id": "ana"})  # a route parameter

    assert answer["errors"] == []
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"]


def test_openai_chat_completion_plain_and_streamed_with_the_sdk(servers):
    messages = [{"role": "user", "content": "How long is the frame warranty?"}]
    with openai_clients(servers) as (local, worker):
        plain = [c.chat.completions.create(model="remote", messages=messages).model_dump() for c in (local, worker)]
        streamed = [
            [chunk.model_dump() for chunk in c.chat.completions.create(model="remote", messages=messages, stream=True)]
            for c in (local, worker)
        ]

    assert_equal(plain[1], plain[0])
    assert plain[0]["choices"][0]["message"]["content"].startswith("Echo")
    assert_equal(streamed[1], streamed[0])
    assert len(streamed[0]) > 1


def test_openai_responses_stream_with_the_sdk(servers):
    with openai_clients(servers) as clients:
        events = [
            [e.model_dump() for e in c.responses.create(model="remote", input="Frame warranty?", stream=True)]
            for c in clients
        ]

    assert_equal(events[1], events[0])
    assert events[0][-1]["type"] == "response.completed"


def test_openai_models_list_and_one_model(servers):
    listed = same(servers, "GET", "/api/v1/models")
    one = same(servers, "GET", "/api/v1/models/remote")  # a route parameter

    assert "remote" in {m["id"] for m in listed["data"]} and one["id"] == "remote"


def test_session_chat(servers):
    first = same(servers, "POST", "/api/v1/chat", json={"sessionId": "w-2", "prompt": "How long is the warranty?"})
    second = same(servers, "POST", "/api/v1/chat", json={"sessionId": "w-2", "prompt": "And the battery?"})

    assert first != second  # the second turn sees the first: the history is kept by the session id


def test_multi_source_chat(servers):
    body = {
        "query": "How long is the battery warranty?",
        "llm_model": "remote",
        "rag_config": {
            "sources": [{"name": "docs", "model_name": EMBEDDING_DEPLOYMENT, "similarity_threshold": 0.0}],
            "retrieval_strategy": "merge",
            "max_total_results": 4,
        },
    }
    answer = same(servers, "POST", "/api/v1/chat/complete", json=body)

    assert answer["sources"] and answer["model_used"] == "remote"


def test_flexible_models(servers):
    models = same(servers, "GET", "/api/v2/models")

    assert models["default"] == "remote"


def test_openapi_document(servers):
    document = same(servers, "GET", "/api/openapi.json")

    assert "/api/v2/flexible-rag" in document["paths"]


@pytest.mark.parametrize(("path", "stream"), [("/api/v2/flexible-rag-mm", False), ("/api/v2/flexible-chat-mm", True)])
def test_a_question_with_an_image(servers, path, stream):
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64)).decode()
    body = {"question": "What is in this picture?", "metadata": {"images": [{"data_url": image}]}, "stream": stream}
    answer = same(servers, "POST", path, json={**body, "override_config": {"llm": "vision"}})

    assert (answer[-1][0] == "final") if stream else (answer["errors"] == [])


def test_a_page_and_a_static_file_without_a_key(servers):
    same(servers, "GET", "/api/docs", key=False)
    page = same(servers, "GET", "/api/playground", key=False)
    script = same(servers, "GET", "/api/static/playground.js", key=False)

    assert page.startswith(b"<!doctype html>") or page.lower().startswith(b"<!doctype html>")
    assert len(script) > 100


def test_a_validation_error(servers):
    body = same(servers, "POST", "/api/v2/flexible-rag", json={"question": "", "unknown": 1})

    assert {tuple(d["loc"]) for d in body["detail"]} >= {("body", "question"), ("body", "unknown")}


def test_a_body_over_the_limit(servers):
    oversized = json.dumps({"question": "x" * MAX_BODY_BYTES})
    body = same(
        servers, "POST", "/api/v2/flexible-rag", content=oversized, headers={"content-type": "application/json"}
    )

    assert "bytes" in body["detail"]


def test_a_session_s_whole_life_through_its_route_parameters(servers):
    owner = {"user_id": "ana"}
    turn = {"question": "How long is the frame warranty?", "ab_testing": {**owner, "session_id": "w.5:x@y"}}
    path = "/api/v2/sessions/w.5%3Ax%40y"  # the session id, percent-encoded in the path
    assert same(servers, "POST", "/api/v2/flexible-chat", json=turn)["errors"] == []
    rated = same(servers, "POST", f"{path}/messages/1/feedback", params=owner, json={"rating": "up", "comment": "ok"})
    read = same(servers, "GET", path, params=owner)
    same(servers, "GET", "/api/v2/sessions", params=owner)
    deleted = same(servers, "DELETE", path, params=owner)
    gone = same(servers, "GET", path, params=owner)

    assert rated["index"] == 1 and read["messages"][1]["feedback"]["rating"] == "up"
    assert deleted == b"" and "no session" in gone["detail"]


def test_a_cited_source_opened_by_its_id(servers):
    answer = same(servers, "POST", "/api/v2/flexible-rag", json={"question": "What does the warranty cover?"})
    source_id = answer["metadata"][0]["id"]
    opened = same(servers, "GET", f"/api/v2/sources/{source_id}")

    assert opened["id"] == source_id and opened["document"]["filename"] == opened["filename"]


def test_the_azure_openai_sdk_on_the_deployment_route_and_an_agent(servers):
    import openai

    messages = [{"role": "user", "content": "How long is the frame warranty?"}]
    answers = []
    for _, base in servers.each():
        azure = openai.AzureOpenAI(
            azure_endpoint=f"{base}/api",
            api_version="2024-10-21",
            api_key="unused",
            max_retries=0,
            default_headers={"x-functions-key": KEY},
        )
        agent = openai.OpenAI(
            base_url=f"{base}/api/v1/compatibility/openai/v1/assistants/{AGENT_ID}",
            api_key="unused",
            max_retries=0,
            default_headers={"x-functions-key": KEY},
        )
        with azure, agent:
            answers.append(
                [c.chat.completions.create(model="remote", messages=messages).model_dump() for c in (azure, agent)]
            )

    assert_equal(answers[1], answers[0])


def test_refusals_of_the_body(servers):
    def oversized_in_pieces():  # no Content-Length: counted as it arrives
        yield b'{"question": "'
        yield b"x" * MAX_BODY_BYTES
        yield b'"}'

    form = same(servers, "POST", "/api/v2/flexible-rag", content=b"q=x", headers={"content-type": "text/plain"})
    broken = same(servers, "POST", "/api/v2/flexible-rag", content=b'{"question": ', headers=JSON)
    chunked = same(servers, "POST", "/api/v2/flexible-rag", content=oversized_in_pieces, headers=JSON)

    assert "JSON" in form["detail"] and broken["detail"][0]["loc"] == ["body"] and "bytes" in chunked["detail"]


def test_mcp_through_its_transport_and_the_official_client(servers):
    """The MCP endpoint as the worker serves it: the messages by hand, then the official client with the key."""
    import anyio
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers = {"accept": "application/json, text/event-stream"}
    client = {"name": "t", "version": "1"}
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
    search = {"name": "search", "arguments": {"query": "frame warranty", "top": 2}}
    started = same(servers, "POST", "/api/mcp", json=initialize, headers=headers)
    accepted = same(servers, "POST", "/api/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    found = same(servers, "POST", "/api/mcp", json={**initialize, "method": "tools/call", "params": search})
    stream = same(servers, "GET", "/api/mcp", headers=headers)
    broken = same(servers, "POST", "/api/mcp", content=b"{", headers={**headers, **JSON})
    metadata = same(servers, "GET", "/api/.well-known/oauth-protected-resource/mcp", key=False)

    async def official_client() -> set[str]:
        http = httpx2.AsyncClient(headers={"x-functions-key": KEY}, timeout=60)
        async with (
            http,
            streamable_http_client(f"{servers.worker}/api/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool("search", {"query": "frame warranty"})
            return {p["filename"] for p in result.structured_content["passages"]}

    assert started["result"]["protocolVersion"] == "2025-06-18" and accepted == b"" and stream == b""
    assert found["result"]["structuredContent"]["passages"][0]["filename"] == "warranty-policy.md"
    assert broken["error"]["code"] == -32700 and "token validation is off" in metadata["detail"]
    assert "warranty-policy.md" in anyio.run(official_client)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v2/models/", 200),
        ("GET", "/API/V2/Models", 200),
        ("GET", "/api/v1/MODELS/remote", 200),
        ("HEAD", "/api/v2/models", 404),
        ("DELETE", "/api/v2/models", 405),
        ("POST", "/api/playground", 405),
        ("GET", "/api/v2/nothing-here", 404),
    ],
)
def test_routes_match_as_the_host_matches_them(servers, method, path, status):
    """The host's router ignores a trailing slash and the case of literal segments, and finds no
    function (404) for a method no function takes, HEAD included; the methods a path does not
    declare reach its first function, which answers 405 with Allow."""
    local, worker = exchange(servers, method, path)
    assert_same(local, worker)

    assert local.status_code == status


# --- documents: uploads, and the triggers that keep the index in step with the container -------

CARD = b"# Bike lock card\n\nThe Brightwheel folding lock opens with the code 4711 and weighs 1.2 kg.\n"


def test_a_document_uploaded_listed_found_and_deleted(servers):
    owner = {"user_id": "dana"}
    files = {"file": ("lock-card.md", CARD, "text/markdown")}
    local, worker = exchange(servers, "POST", "/api/v2/documents", params=owner, files=files)
    assert (local.status_code, worker.status_code) == (201, 201), (local.text, worker.text)
    ids = [r.json()["id"] for r in (local, worker)]
    assert_equal(without(worker.json(), ids[1]), without(local.json(), ids[0]))
    listed = exchange(servers, "GET", "/api/v2/documents", params=owner)
    assert_equal(without(listed[1].json(), ids[1]), without(listed[0].json(), ids[0]))
    question = {"question": "What is the code of the folding lock?", "ab_testing": {"user_id": "dana"}}
    found = exchange(servers, "POST", "/api/v2/flexible-rag", json=question)
    own = [[i, *chunk_ids(r.json(), i)] for r, i in zip(found, ids, strict=True)]  # chunk ids hash the name
    assert_equal(without(found[1].json(), *own[1]), without(found[0].json(), *own[0]))
    deleted = [
        httpx.delete(f"{base}/api/v2/documents/{i}", params=owner, headers={"x-functions-key": KEY}, timeout=60)
        for (_, base), i in zip(servers.each(), ids, strict=True)
    ]

    assert "lock-card.md" in found[0].json()["metadata"][0]["filename"]
    assert [r.status_code for r in deleted] == [204, 204]


GUIDE = b"# Chain lock guide\n\nThe Brightwheel chain lock is 110 cm long and made of hardened steel.\n"
DROPPED = "dropped/chain-lock-guide.md"
LOCK_QUESTION = {"question": "How long is the Brightwheel chain lock?"}


def _cited(base: str) -> set[str]:
    answer = httpx.post(f"{base}/api/v2/flexible-rag", json=LOCK_QUESTION, headers={"x-functions-key": KEY}, timeout=60)
    return {m["filename"] for m in answer.json()["metadata"]}


def test_a_document_dropped_into_the_container_and_deleted_reaches_the_index_through_the_triggers(
    servers, settings, request
):
    """On Azure the blob trigger (BlobCreated) and the Event Grid trigger (BlobDeleted) keep the
    index in step with the container; locally the server's watcher does. Both end the same."""
    from azure.storage.blob import BlobServiceClient

    blobs = BlobServiceClient.from_connection_string(settings["AzureWebJobsStorage"])
    request.addfinalizer(blobs.close)
    for side in ("local", "worker"):
        blobs.get_blob_client(f"docs-{side}", DROPPED).upload_blob(GUIDE, overwrite=True)
    run_function(servers, "document_changed", f"docs-worker/{DROPPED}")
    wait_until(lambda: DROPPED in _cited(servers.local), "the local server's watcher never indexed the document")
    found = same(servers, "POST", "/api/v2/flexible-rag", json=LOCK_QUESTION)

    for side in ("local", "worker"):
        blobs.get_blob_client(f"docs-{side}", DROPPED).delete_blob()
    subject = f"/blobServices/default/containers/docs-worker/blobs/{DROPPED}"
    deleted = {"id": "e-1", "subject": subject, "eventType": "Microsoft.Storage.BlobDeleted", "data": {}}
    event = {**deleted, "topic": "/storageAccounts/x", "eventTime": "2026-12-07T00:00:00Z", "dataVersion": ""}
    run_function(servers, "document_deleted", json.dumps({**event, "metadataVersion": "1"}))
    wait_until(lambda: DROPPED not in _cited(servers.local), "the local server's watcher never removed the document")
    gone = same(servers, "POST", "/api/v2/flexible-rag", json=LOCK_QUESTION)

    assert DROPPED in {m["filename"] for m in found["metadata"]}
    assert DROPPED not in {m["filename"] for m in gone["metadata"]}


def test_every_invocation_succeeded_in_the_worker_and_answered_through_the_proxy(servers, request):
    """Runs last: what the host saw of every invocation above (when the whole module ran, that
    every function was called, and that only the scripted model failures were logged)."""
    status = host_status(servers)

    failed = [i for i in status["invocations"] if i.get("status") != "Success"]
    assert status["invocations"] and not failed, failed
    assert not any(i["has_return_value"] for i in status["invocations"])  # answers went through the HTTP proxy
    logged = [e["message"] for e in status["errors_logged"]]
    assert all("garbage" in m or "breaks-mid-stream" in m for m in logged), logged
    if _whole_module_ran(request):
        every = {f["name"] for f in status["functions"]} | set(status["triggered_functions"])
        assert every <= {i["function"] for i in status["invocations"]}  # each function, at least once
        with_parameters = {i["function"] for i in status["invocations"] if i.get("route_params")}
        assert {"session_get", "message_feedback", "retrieve_model", "static_file"} <= with_parameters
        assert len(logged) == 2  # test_a_model_failing_before_and_during_the_stream's


def _whole_module_ran(request) -> bool:
    ran = {item.originalname for item in request.session.items if item.path == request.path}
    return ran >= {name for name in globals() if name.startswith("test_")}
