"""The MCP endpoint (/api/mcp) through the official MCP Python SDK client, in process: each
tool, a failing call, and the Streamable HTTP transport's error cases sent by hand."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from shared.core.orchestrator import FALLBACK_ANSWER
from tests.silent_server import SilentServer
from tests.unit import test_deadlines

QUESTION = "How many years of warranty does the frame have?"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"accept": "application/json, text/event-stream"}
hanging_store = test_deadlines.hanging_store  # the fixture: a Cosmos DB endpoint that never answers


@contextlib.asynccontextmanager
async def mcp_session(asgi_app, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """The official client, initialized, talking to the app in this process."""
    transport = httpx2.ASGITransport(app=asgi_app)
    http = httpx2.AsyncClient(transport=transport, base_url="http://testserver", headers=headers or {}, timeout=120)
    async with (
        http,
        streamable_http_client("http://testserver/api/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@pytest.fixture
def connect(asgi_app, sample_index):
    """Opens mcp_session on the app (a fixture cannot hold it open: the client's task group must
    be left in the task that entered it)."""
    return lambda headers=None: mcp_session(asgi_app, headers)


async def test_the_tools_are_listed_with_their_schemas(connect):
    async with connect() as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}

        assert set(tools) == {"search", "ask", "get_source"}  # the sessions tools need an identity
        for tool in tools.values():
            assert tool.description and tool.input_schema["type"] == "object"
            assert tool.output_schema["type"] == "object"
        assert tools["search"].input_schema["properties"]["top"]["maximum"] == 50
        assert tools["search"].input_schema["properties"]["mode"]["enum"] == ["hybrid", "text", "vector"]
        assert tools["search"].input_schema["required"] == ["query"]
        assert tools["ask"].input_schema["required"] == ["question"]


async def test_search_finds_the_frame_warranty(connect):
    async with connect() as session:
        result = await session.call_tool("search", {"query": QUESTION, "top": 3})

        assert not result.is_error
        passages = result.structured_content["passages"]
        assert 1 <= len(passages) <= 3
        first = passages[0]
        assert first["filename"] == "warranty-policy.md" and "10 years" in first["text"]
        assert first["link"] == f"/api/v2/sources/{first['source_id']}"
        assert {"title", "page", "section", "score"} <= first.keys()
        assert "[1] Brightwheel Cycles Warranty Policy (warranty-policy.md" in result.content[0].text
        assert "10 years" in result.content[0].text


@pytest.mark.parametrize("mode", ["text", "vector", "hybrid"])
async def test_search_modes_and_filter(connect, mode):
    async with connect() as session:
        arguments = {"query": "battery warranty", "mode": mode, "top": 4, "filter": "filename eq 'warranty-policy.md'"}
        result = await session.call_tool("search", arguments)

        passages = result.structured_content["passages"]
        assert result.structured_content["mode"] == mode
        assert passages and {p["filename"] for p in passages} == {"warranty-policy.md"}
        assert [p["n"] for p in passages] == list(range(1, len(passages) + 1))


async def test_ask_answers_with_citations(connect, configure):
    async with connect() as session:
        configure(LLM_ANSWER_STRATEGY="extractive")  # the embedded default: the passages that answer, cited
        result = await session.call_tool("ask", {"question": QUESTION})

        answer = result.structured_content
        assert "10 years" in answer["answer"] and "[1]" in answer["answer"]
        assert answer["sources"][0]["filename"] == "warranty-policy.md"
        assert answer["sources"][0]["text"] is None and answer["errors"] == [] and answer["session_id"] is None
        assert "Sources:\n[1] Brightwheel Cycles Warranty Policy" in result.content[0].text


async def test_ask_continues_a_session_as_flexible_chat_does(connect, client, configure):
    configure(LLM_ANSWER_STRATEGY="extractive")
    session_id = f"mcp-{uuid.uuid4().hex[:8]}"
    async with connect() as session:
        await session.call_tool("ask", {"question": QUESTION, "session_id": session_id})
        follow_up = await session.call_tool("ask", {"question": "And the battery?", "session_id": session_id})
    # Without an identity, the same ids (and no key) reach it through the HTTP API: one v2 session.
    stored = (await client.get(f"/api/v2/sessions/{session_id}")).json()["messages"]

    assert follow_up.structured_content["session_id"] == session_id
    assert [m["content"] for m in stored if m["role"] == "user"] == [QUESTION, "And the battery?"]


async def test_get_source_opens_a_passage_found_by_search(connect):
    async with connect() as session:
        found = (await session.call_tool("search", {"query": QUESTION, "top": 1})).structured_content["passages"][0]
        result = await session.call_tool("get_source", {"source_id": found["source_id"]})

        opened = result.structured_content
        assert opened["id"] == found["source_id"] and opened["text"] == found["text"]
        start, end = opened["highlight"]["start"], opened["highlight"]["end"]
        assert opened["document"]["text"][start:end] == found["text"]
        assert f">>> {found['text']} <<<" in result.content[0].text


@pytest.mark.parametrize(
    ("tool", "arguments", "says"),
    [
        ("get_source", {"source_id": "0000000000000000-0"}, "no source"),
        ("get_source", {"source_id": "../etc"}, "Invalid arguments: source_id"),
        ("search", {"query": "frame", "top": 51}, "Invalid arguments: top"),
        ("search", {"query": "frame", "mode": "semantic"}, "Invalid arguments: mode"),
        ("search", {"query": "frame", "surprise": 1}, "Invalid arguments: surprise"),
        ("search", {"query": "frame", "filter": "nope eq 1"}, "nope"),
        ("ask", {"question": "x" * 20_001}, "Invalid arguments: question"),
    ],
)
async def test_a_failing_call_is_a_tool_error_the_model_can_read(connect, tool, arguments, says):
    async with connect() as session:
        result = await session.call_tool(tool, arguments)

        assert result.is_error and result.structured_content is None
        assert says in result.content[0].text


async def test_an_unknown_tool_or_a_sessions_tool_without_identity_is_a_protocol_error(connect):
    async with connect() as session:
        for name in ("nope", "list_sessions", "get_session"):
            with pytest.raises(MCPError) as raised:
                await session.call_tool(name, {})
            assert raised.value.error.code == -32602 and name in raised.value.error.message


async def post(client, body, headers: dict[str, str] | None = None, **kwargs):
    return await client.post("/api/mcp", json=body, headers={**MCP_HEADERS, **(headers or {})}, **kwargs)


async def test_initialize_negotiates_the_version_and_ping_answers(client):
    for asked, agreed in (("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"), ("2099-01-01", "2025-11-25")):
        body = {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": asked}}
        response = await post(client, body)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        result = response.json()["result"]
        assert result["protocolVersion"] == agreed and result["capabilities"] == {"tools": {"listChanged": False}}
        assert "mcp-session-id" not in response.headers  # stateless: no session to keep
    ping = await post(client, {"jsonrpc": "2.0", "id": "p", "method": "ping"})
    assert ping.json() == {"jsonrpc": "2.0", "id": "p", "result": {}}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', -32600),  # batches ended with 2025-06-18
        (b'{"id": 1, "method": "ping"}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "id": 2, "method": "ping"}', -32600),
        (b'{"jsonrpc": "2.0", "id": {}, "method": "ping"}', -32600),  # not a notification either
        (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', -32600),
    ],
)
async def test_what_is_not_one_json_rpc_message_is_a_400_with_a_json_rpc_error(client, body, code):
    response = await client.post("/api/mcp", content=body, headers={**MCP_HEADERS, "content-type": "application/json"})

    reply = response.json()
    assert response.status_code == 400
    assert reply["jsonrpc"] == "2.0" and reply["id"] is None and reply["error"]["code"] == code


async def test_method_and_params_errors_answer_the_request(client):
    unknown = await post(client, {"jsonrpc": "2.0", "id": 7, "method": "resources/list"})
    no_name = await post(client, {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {}})
    bad_init = await post(client, {"jsonrpc": "2.0", "id": 9, "method": "initialize", "params": {"x": 1}})

    assert unknown.status_code == 200 and unknown.json()["id"] == 7 and unknown.json()["error"]["code"] == -32601
    assert no_name.json()["id"] == 8 and no_name.json()["error"]["code"] == -32602
    assert bad_init.json()["error"]["code"] == -32602


async def test_notifications_and_responses_are_accepted_without_a_body(client):
    for message in (
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 3, "result": {}},
    ):
        response = await post(client, message)
        assert response.status_code == 202 and response.content == b""


async def test_transport_refusals(client, configure):
    stream = await client.get("/api/mcp", headers={"accept": "text/event-stream"})
    version = await post(client, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"mcp-protocol-version": "1999-01-01"})
    text = await client.post("/api/mcp", content=b"ping", headers={**MCP_HEADERS, "content-type": "text/plain"})
    html_only = await post(client, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"accept": "text/html"})
    foreign_page = await post(client, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"origin": "https://evil.example"})
    configure(HTTP_MAX_BODY_BYTES="1000")
    large = await post(client, {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 2000}})

    assert stream.status_code == 405 and stream.headers["allow"] == "POST"
    assert version.status_code == 400 and "1999-01-01" in version.json()["error"]["message"]
    assert text.status_code == 415
    assert html_only.status_code == 406
    assert foreign_page.status_code == 403
    assert large.status_code == 413


async def test_an_allowed_origin_may_call(client, configure):
    configure(HTTP_CORS_ALLOWED_ORIGINS='["https://app.example"]')
    response = await post(client, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"origin": "https://app.example"})

    assert response.status_code == 200 and response.json()["result"] == {}


async def test_a_hanging_search_service_ends_at_the_deadline_as_a_tool_error(connect, configure):
    with SilentServer() as silent:  # accepts the connection, never answers
        configure(
            SEARCH_BACKEND="azure",
            SEARCH_ENDPOINT=f"http://127.0.0.1:{silent.port}",
            SEARCH_API_KEY="test-query-key",
            HTTP_DEADLINE_SECONDS="3",
        )
        async with connect() as session:
            result = await session.call_tool("search", {"query": "frame warranty"})

    assert result.is_error and result.content[0].text == "search did not finish within 3 s."


async def test_ask_on_a_hanging_history_store_answers_with_the_turn_s_fallback(connect, hanging_store):
    async with connect() as session:
        result = await session.call_tool("ask", {"question": "Frame?", "session_id": "s-hang"})

    answer = result.structured_content
    assert not result.is_error and answer["answer"] == FALLBACK_ANSWER
    assert [e.split(":")[0] for e in answer["errors"]] == ["history"]
