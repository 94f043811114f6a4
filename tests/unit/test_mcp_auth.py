"""The MCP endpoint with token validation on: the MCP authorization flow's 401 and
protected-resource metadata, and every tool trimmed by the caller's identity."""

from __future__ import annotations

import uuid

import pytest
from mcp.shared.exceptions import MCPError

from tests.issuer import ALICE, BOB, bearer
from tests.unit.test_mcp import INITIALIZE, MCP_HEADERS, mcp_session

METADATA = "http://testserver/api/.well-known/oauth-protected-resource/mcp"


async def test_without_a_token_401_names_the_protected_resource_metadata(client, issuer):
    response = await client.post("/api/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    metadata = await client.get("/api/.well-known/oauth-protected-resource/mcp")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="rag-chat", resource_metadata="{METADATA}"'
    assert metadata.status_code == 200  # no token, no key: it holds only where to get one
    assert metadata.json() == {
        "resource": "http://testserver/api/mcp",
        "authorization_servers": [issuer.url],
        "scopes_supported": None,
        "bearer_methods_supported": ["header"],
        "resource_name": "RAG chat knowledge base (MCP)",
    }


async def test_a_bad_token_gets_the_error_and_the_metadata(client, issuer):
    headers = {**MCP_HEADERS, **bearer(issuer.token(lifetime=-120))}
    response = await client.post("/api/mcp", json=INITIALIZE, headers=headers)

    challenge = response.headers["www-authenticate"]
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge and challenge.endswith(f'resource_metadata="{METADATA}"')


async def test_the_metadata_url_follows_the_proxy_in_front(client, issuer):
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "kb.example.com"}
    response = await client.post("/api/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **forwarded})

    assert (
        'resource_metadata="https://kb.example.com/api/.well-known/oauth-protected-resource/mcp"'
        in (response.headers["www-authenticate"])
    )


async def test_without_token_validation_there_is_no_metadata(client):
    response = await client.get("/api/.well-known/oauth-protected-resource/mcp")

    assert response.status_code == 404


async def test_the_official_client_without_a_token_is_refused(asgi_app, sample_index, issuer):
    with pytest.raises(ExceptionGroup) as raised:
        async with mcp_session(asgi_app):
            pass

    errors = list(_leaves(raised.value))
    assert [type(e) for e in errors] == [MCPError]  # the client's error for an HTTP error answer (the 401)
    assert errors[0].error.message == "Server returned an error response"


def _leaves(group: BaseExceptionGroup):
    for error in group.exceptions:
        yield from _leaves(error) if isinstance(error, BaseExceptionGroup) else (error,)


async def test_each_user_searches_reads_and_asks_only_their_documents(asgi_app, issuer, secured_index, configure):
    configure(LLM_ANSWER_STRATEGY="extractive")
    found, opened = {}, {}
    for name, user in (("alice", ALICE), ("bob", BOB), ("carol", str(uuid.uuid4()))):
        async with mcp_session(asgi_app, bearer(issuer.token(user))) as session:
            search = await session.call_tool("search", {"query": "warranty battery charge", "top": 10})
            answer = await session.call_tool("ask", {"question": "How many years of warranty does the frame have?"})
            found[name] = {p["filename"] for p in search.structured_content["passages"]}
            found[name] |= {s["filename"] for s in answer.structured_content["sources"]}
            opened[name] = {p["source_id"] for p in search.structured_content["passages"]}

    assert found == {"alice": {"warranty-policy.md"}, "bob": {"zephyr-e-bike-manual.md"}, "carol": set()}
    async with mcp_session(asgi_app, bearer(issuer.token(BOB))) as bob:
        for source_id in opened["alice"]:
            result = await bob.call_tool("get_source", {"source_id": source_id})
            assert result.is_error and "no source" in result.content[0].text


async def test_sessions_tools_reach_only_the_callers_sessions(asgi_app, sample_index, issuer, configure):
    configure(LLM_ANSWER_STRATEGY="extractive")
    session_id = f"mcp-{uuid.uuid4().hex[:8]}"
    async with mcp_session(asgi_app, bearer(issuer.token(ALICE))) as alice:
        tools = {tool.name for tool in (await alice.list_tools()).tools}
        await alice.call_tool("ask", {"question": "Frame warranty?", "session_id": session_id})
        listed = (await alice.call_tool("list_sessions", {})).structured_content["sessions"]
        read = await alice.call_tool("get_session", {"session_id": session_id})
    async with mcp_session(asgi_app, bearer(issuer.token(BOB))) as bob:
        bob_listed = (await bob.call_tool("list_sessions", {})).structured_content["sessions"]
        bob_read = await bob.call_tool("get_session", {"session_id": session_id})

    assert tools == {"search", "ask", "get_source", "list_sessions", "get_session"}
    assert session_id in {s["session_id"] for s in listed}
    assert [m["role"] for m in read.structured_content["messages"]] == ["user", "assistant"]
    assert read.structured_content["messages"][0]["content"] == "Frame warranty?"
    assert session_id not in {s["session_id"] for s in bob_listed}
    assert bob_read.is_error and "no session" in bob_read.content[0].text
