"""Bearer-token authentication and per-user isolation, with keys generated here and an
issuer (OpenID configuration and JWKS) served locally."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.agent_definitions import BUILT_IN_AGENT
from tests.integration.test_flexible_chat import history_backend  # noqa: F401 - the SQLite and Cosmos DB stores
from tests.issuer import ALICE, AUDIENCE, BOB, bearer

SHORT = {"max_tokens": 6, "stop": ["."]}


# The playground, the API reference and their static files hold no data: served to anyone,
# so that a browser can load the page that then asks for a token (shared/routes/web.py); so
# does the MCP endpoint's protected-resource metadata, which says where to get one.
PUBLIC_PAGES = {"playground", "docs", "static/{name}", ".well-known/oauth-protected-resource/mcp"}


def every_endpoint():
    """(method, path) reaching each declared operation that serves data, once. The declarations,
    not the registered functions: a function also takes the methods its path does not declare,
    only to answer them 405."""
    from devtools.local_server import app_functions
    from shared.http.endpoints import api

    app_functions()  # every route module imported, so every operation declared
    concrete = {
        "v2/sessions/{session_id}": "v2/sessions/s-1",
        "v1/compatibility/openai/v1/assistants/{agent_id}/chat/completions": (
            f"v1/compatibility/openai/v1/assistants/{BUILT_IN_AGENT.id}/chat/completions"
        ),
    }
    for op in api.operations:
        if op.route not in PUBLIC_PAGES:
            yield op.method.upper(), "/api/" + concrete.get(op.route, op.route)


async def test_the_pages_are_served_without_a_token_and_hold_no_data(client, issuer):
    for path in ("/api/playground", "/api/docs"):
        response = await client.get(path)

        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("credentials", [None, "Basic dXNlcjpwYXNz", "Bearer not.a.token", "Bearer "])
async def test_every_endpoint_refuses_a_missing_or_malformed_token(client, issuer, credentials):
    headers = {"authorization": credentials} if credentials else {}
    for method, path in every_endpoint():
        response = await client.request(method, path, headers=headers, json={})

        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith('Bearer realm="rag-chat"'), (method, path)
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda i: i.token(lifetime=-120), "expired"),
        (lambda i: i.token(nbf=int(time.time()) + 600), "not valid yet"),
        (lambda i: i.token(aud="api://someone-else"), "audience"),
        (lambda i: i.token(iss="https://evil.example"), "issuer"),
        (lambda i: i.token(kid="nobody", signing_key="key-1"), "unknown key"),
        (lambda i: i.token()[:-8] + "AAAAAAAA", "not valid"),
        (
            lambda i: jwt.encode(
                {"oid": ALICE, "aud": AUDIENCE, "iss": i.url}, "a-shared-secret-of-32-bytes-or-more", algorithm="HS256"
            ),
            "algorithm",
        ),
        (lambda i: i.token(oid=None, sub=None), "claims"),
    ],
)
async def test_invalid_tokens_are_401_with_the_reason(client, issuer, make_token, reason):
    response = await client.get("/api/v2/sessions", headers=bearer(make_token(issuer)))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert reason in response.json()["detail"].lower()


async def test_a_small_clock_skew_is_tolerated(client, issuer):
    token = issuer.token(lifetime=-30)  # expired 30 s ago, within the 60 s skew

    assert (await client.get("/api/v2/sessions", headers=bearer(token))).status_code == 200


async def test_a_required_role_or_scope_is_a_403_when_missing(client, issuer, configure):
    configure(AUTH_REQUIRED_ROLES='["Chat.User"]', AUTH_REQUIRED_SCOPES='["chat"]')

    none = await client.get("/api/v2/sessions", headers=bearer(issuer.token()))
    role_only = await client.get("/api/v2/sessions", headers=bearer(issuer.token(roles=["Chat.User"])))
    both = await client.get("/api/v2/sessions", headers=bearer(issuer.token(roles=["Chat.User"], scp="read chat")))

    assert none.status_code == role_only.status_code == 403
    assert 'error="insufficient_scope"' in none.headers["www-authenticate"]
    assert both.status_code == 200


async def test_keys_are_fetched_once_and_refreshed_for_a_new_key_id_at_most_once_a_minute(client, issuer, monkeypatch):
    import shared.auth

    clock = [1000.0]
    monkeypatch.setattr(shared.auth.time, "monotonic", lambda: clock[0])
    for _ in range(3):
        assert (await client.get("/api/v2/sessions", headers=bearer(issuer.token()))).status_code == 200
    assert issuer.key_fetches() == 1  # discovery, then the key set, once

    issuer.keys["key-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer.published.append("key-2")  # the issuer rotates its keys
    too_soon = await client.get("/api/v2/sessions", headers=bearer(issuer.token(kid="key-2")))
    clock[0] += 61
    rotated = await client.get("/api/v2/sessions", headers=bearer(issuer.token(kid="key-2")))
    forged = [
        await client.get("/api/v2/sessions", headers=bearer(issuer.token(kid=f"forged-{n}", signing_key="key-1")))
        for n in range(5)
    ]

    assert too_soon.status_code == 401 and rotated.status_code == 200 and issuer.key_fetches() == 2
    assert {r.status_code for r in forged} == {401} and issuer.key_fetches() == 2  # no refetch storm


async def test_an_unreachable_issuer_is_a_503(client, configure):
    configure(AUTH_TOKEN_VALIDATION="true", AUTH_ISSUER="http://127.0.0.1:9", AUTH_AUDIENCE=json.dumps([AUDIENCE]))
    token = jwt.encode({"oid": ALICE}, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    response = await client.get("/api/v2/sessions", headers=bearer(token))

    assert response.status_code == 503 and response.json()["code"] == "signing_keys_unavailable"


async def test_the_token_decides_the_identity_not_the_body(client, issuer, configure, tmp_path):
    configure(HISTORY_SQLITE_PATH=str(tmp_path / "history.sqlite"))
    body = {
        "question": "Frame warranty?",
        "ab_testing": {"user_id": BOB, "session_id": "s-1"},  # claims to be Bob
        "override_config": {"params": SHORT},
        "fetch_args": {"AzureSearchFetcher": {"top_k": 1}},
    }
    assert (
        await client.post("/api/v2/flexible-chat", json=body, headers=bearer(issuer.token(ALICE)))
    ).status_code == 200

    alice = await client.get("/api/v2/sessions", params={"user_id": BOB}, headers=bearer(issuer.token(ALICE)))
    bob = await client.get("/api/v2/sessions", headers=bearer(issuer.token(BOB)))

    assert [s["session_id"] for s in alice.json()["sessions"]] == ["s-1"]  # stored as Alice's
    assert bob.json()["sessions"] == []


async def test_no_session_operation_of_any_api_reaches_another_users_data(client, issuer, history_backend):  # noqa: F811
    alice, bob = bearer(issuer.token(ALICE)), bearer(issuer.token(BOB))
    short = {"fetch_args": {"AzureSearchFetcher": {"top_k": 1}}, "override_config": {"params": SHORT}}

    async def post(path, body, headers):
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response

    # Alice starts a conversation in every API family.
    await post(
        "/api/v2/flexible-chat",
        {"question": "Frame warranty?", "ab_testing": {"user_id": "x", "session_id": "v2"}} | short,
        alice,
    )
    created = await post(
        f"/api/v1/compatibility/openai/v1/assistants/{BUILT_IN_AGENT.id}/chat/completions",
        {"messages": [{"role": "user", "content": "Frame warranty?"}], "create_session": True, "max_tokens": 6},
        alice,
    )
    openai_session = created.headers["x-session-id"]
    await post("/api/v1/chat", {"sessionId": "trigger", "prompt": "Frame warranty?"}, alice)
    await post(
        "/api/v1/chat/complete",
        {"query": "Frame warranty?", "context_mode": "none", "max_tokens": 6, "conversation_id": "complete"},
        alice,
    )
    sessions = {s["session_id"] for s in (await client.get("/api/v2/sessions", headers=alice)).json()["sessions"]}
    assert sessions == {"v2", openai_session, "trigger", "complete"}

    # Bob, with every id, reaches none of it: not by reading, listing, extending or deleting.
    assert (await client.get("/api/v2/sessions", headers=bob)).json()["sessions"] == []
    for session_id in sessions:
        assert (await client.get(f"/api/v2/sessions/{session_id}", headers=bob)).status_code == 404
        assert (await client.delete(f"/api/v2/sessions/{session_id}", headers=bob)).status_code == 404
    extended = await client.post(
        f"/api/v1/compatibility/openai/v1/assistants/{BUILT_IN_AGENT.id}/chat/completions",
        json={"messages": [{"role": "user", "content": "What did we say?"}], "store_in_session": openai_session},
        headers=bob,
    )
    assert extended.status_code == 404
    v2 = await post(
        "/api/v2/flexible-chat", {"question": "And?", "ab_testing": {"user_id": ALICE, "session_id": "v2"}} | short, bob
    )
    trigger = await post("/api/v1/chat", {"sessionId": "trigger", "prompt": "And?"}, bob)
    assert v2.json()["response_metadata"]["conversation_length"] == 2  # a new conversation of Bob's own
    assert trigger.json()["conversation_length"] == 2

    # Alice's conversations are whole: two messages each, none of Bob's.
    for session_id in sessions:
        messages = (await client.get(f"/api/v2/sessions/{session_id}", headers=alice)).json()["messages"]
        assert len(messages) == 2 and messages[0]["content"] == "Frame warranty?"


async def test_the_search_security_filter_follows_the_token(client, issuer, secured_index):
    body = {"question": "warranty battery charge", "skip_knowledge_base": False, "override_config": {"params": SHORT}}
    body["fetch_args"] = {"AzureSearchFetcher": {"top_k": 10, "select_fields": ["filename"]}}

    found = {}
    for name, user in (("alice", ALICE), ("bob", BOB), ("carol", str(uuid.uuid4()))):
        response = await client.post("/api/v2/flexible-rag", json=body, headers=bearer(issuer.token(user)))
        found[name] = {s["filename"] for s in response.json()["metadata"]}

    assert found == {"alice": {"warranty-policy.md"}, "bob": {"zephyr-e-bike-manual.md"}, "carol": set()}
