"""Without token validation, conversations are capabilities, not a shared pool: another
caller cannot list, read, continue or delete the conversations of the session chat
(POST /api/v1/chat), the multi-source chat (POST /api/v1/chat/complete) or the v2 API,
and the caller that started one continues it. Over HTTP, with the history in SQLite and
in the Cosmos DB emulator, and a recording model server that shows the history each turn
sends to the model."""

from __future__ import annotations

import json

import pytest

from shared import backends
from shared.identity import DERIVED_OWNER_PREFIX, Principal
from tests.integration.test_flexible_chat import history_backend  # noqa: F401 - the SQLite and Cosmos DB stores
from tests.recording_server import RecordingServer
from tests.support import completion, remote_model_entry

SECRET = "my IBAN is DE00 1234"
NO_SEARCH = {"fetch_args": {"AzureSearchFetcher": {"top_k": 0}}}


@pytest.fixture
def model(configure, history_backend):  # noqa: F811
    """A recording model as the default, on a fresh store: its requests are what each turn sent."""
    with RecordingServer(lambda request: (200, completion("Noted."))) as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server)]), LLM_DEFAULT_ALIAS="remote")
        yield server


def sent_history(model) -> list[str]:
    """What the last turn sent the model besides the system prompt: history, then the question."""
    return [m["content"] for m in model.requests[-1].body["messages"][1:]]


# Each API family's turn on a session id: (path, body).
def session_chat_turn(session_id, prompt):
    return "/api/v1/chat", {"sessionId": session_id, "prompt": prompt}


def multi_source_turn(session_id, prompt):
    return "/api/v1/chat/complete", {"query": prompt, "context_mode": "none", "conversation_id": session_id}


def v2_turn(session_id, prompt, user="alice"):
    body = {"question": prompt, "ab_testing": {"user_id": user, "session_id": session_id}, **NO_SEARCH}
    return "/api/v2/flexible-chat", body


FAMILIES = {"session-chat": session_chat_turn, "multi-source": multi_source_turn, "v2": v2_turn}


async def post(client, turn, headers=None):
    path, body = turn
    response = await client.post(path, json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("family", ["session-chat", "multi-source"])
async def test_another_caller_cannot_reach_a_conversation_without_an_identity(client, model, family):
    turn = FAMILIES[family]
    await post(client, turn("victim-123", SECRET))
    other_key = {"x-functions-key": "another-clients-key"}

    # Nothing is listed, and the session endpoints reach no conversation of another API family.
    listing = await client.get("/api/v2/sessions")
    assert listing.status_code == 403 and listing.json()["code"] == "identity_required"
    assert SECRET not in listing.text
    assert (await client.get("/api/v2/sessions/victim-123")).status_code == 404
    assert (await client.get("/api/v2/sessions/victim-123", params={"user_id": "anonymous"})).status_code == 404
    assert (await client.delete("/api/v2/sessions/victim-123")).status_code == 404

    # Another client (its own function key), or the same id through v2: a new conversation.
    await post(client, turn("victim-123", "What did I tell you?"), headers=other_key)
    assert SECRET not in sent_history(model)
    await post(client, v2_turn("victim-123", "What did I tell you?", user="anonymous"))
    assert SECRET not in sent_history(model)

    # The caller that started it continues it, whole.
    await post(client, turn("victim-123", "And?"))
    assert sent_history(model) == [SECRET, "Noted.", "And?"]
    owner = Principal(None, None).session_owner(family, "victim-123")
    stored = await backends.history_store().load(owner, "victim-123", None)
    assert [m.content for m in stored.messages] == [SECRET, "Noted.", "And?", "Noted."]


async def test_without_an_identity_v2_sessions_are_reached_only_with_their_user_id(client, model):
    await post(client, v2_turn("s-1", SECRET, user="alice"))

    assert (await client.get("/api/v2/sessions", params={"user_id": "alice"})).status_code == 403
    assert (await client.get("/api/v2/sessions/s-1", params={"user_id": "mallory"})).status_code == 404
    assert (await client.delete("/api/v2/sessions/s-1", params={"user_id": "mallory"})).status_code == 404
    await post(client, v2_turn("s-1", "What did alice say?", user="mallory"))
    assert SECRET not in sent_history(model)
    # Another function key, with alice's ids, is another namespace too.
    key = {"code": "another-clients-key"}
    assert (await client.get("/api/v2/sessions/s-1", params={"user_id": "alice"} | key)).status_code == 404

    mine = await client.get("/api/v2/sessions/s-1", params={"user_id": "alice"})
    assert [m["content"] for m in mine.json()["messages"]] == [SECRET, "Noted."]
    assert (await client.delete("/api/v2/sessions/s-1", params={"user_id": "alice"})).status_code == 204


async def test_a_trusted_backend_names_its_users_but_not_the_derived_namespace(client, model, configure):
    configure(AUTH_TRUST_ASSERTED_USERS="true")
    await post(client, session_chat_turn("victim-123", SECRET))  # no user: still a capability
    owner = Principal(None, None).session_owner("session-chat", "victim-123")
    await post(client, v2_turn("s-2", "Hello", user="alice"))

    alice = (await client.get("/api/v2/sessions", params={"user_id": "alice"})).json()["sessions"]
    impostor = await client.get("/api/v2/sessions", params={"user_id": owner})
    read = await client.get("/api/v2/sessions/victim-123", params={"user_id": owner})

    assert owner.startswith(DERIVED_OWNER_PREFIX)
    assert [s["session_id"] for s in alice] == ["s-2"]
    assert impostor.status_code == 403  # an asserted id in the derived namespace is no identity
    assert read.status_code == 404 and SECRET not in read.text
