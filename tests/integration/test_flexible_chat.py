"""POST /api/v2/flexible-chat (seed 001 section 1) and the session endpoints, over HTTP,
with the history in SQLite and in Cosmos DB (the emulator)."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from tests.conftest import COSMOS_EMULATOR_KEY
from tests.support import remote_model_entry, rewriting_model

CHAT = "/api/v2/flexible-chat"
SHORT = {"max_tokens": 8, "stop": ["."]}


def turn(question, user="alice", session="s-1", **extra):
    return {
        "question": question,
        "ab_testing": {"user_id": user, "session_id": session},
        "override_config": {"params": SHORT},
        "fetch_args": {"AzureSearchFetcher": {"top_k": 1}},  # a short prompt: the embedded model answers fast
        **extra,
    }


@pytest.fixture(params=["sqlite", "cosmos"])
async def history_backend(request, configure):
    """The app with its history in a fresh SQLite file or a fresh Cosmos DB container."""
    if request.param == "sqlite":
        configure(HISTORY_SQLITE_PATH=str(request.getfixturevalue("tmp_path") / "history.sqlite"))
        return "sqlite"
    from azure.cosmos import PartitionKey
    from azure.cosmos.aio import CosmosClient

    endpoint = request.getfixturevalue("cosmos_emulator")
    container = f"history-{uuid.uuid4().hex[:8]}"
    async with CosmosClient(endpoint, credential=COSMOS_EMULATOR_KEY) as client:
        database = await client.create_database_if_not_exists("chat")
        await database.create_container(container, partition_key=PartitionKey("/userId"), default_ttl=-1)
    configure(
        HISTORY_BACKEND="cosmos",
        HISTORY_COSMOS_ENDPOINT=endpoint,
        HISTORY_COSMOS_KEY=COSMOS_EMULATOR_KEY,
        HISTORY_COSMOS_CONTAINER=container,
    )
    return "cosmos"


async def test_three_turns_make_a_six_message_session_only_its_user_reaches(client, history_backend, configure):
    configure(AUTH_TRUST_ASSERTED_USERS="true")  # a trusted backend names its users
    questions = ["How long is the frame warranty?", "And the battery?", "Does it cover rust?"]
    answers = []
    for question in questions:
        response = await client.post(CHAT, json=turn(question))
        assert response.status_code == 200, response.text
        assert response.json()["errors"] == []
        answers.append(response.json())

    stored = (await client.get("/api/v2/sessions/s-1", params={"user_id": "alice"})).json()
    last = answers[-1]

    assert [m["content"] for m in stored["messages"]] == [
        text for question, answer in zip(questions, answers, strict=True) for text in (question, answer["answer"])
    ]
    assert stored["messages"][1]["sources"] == answers[0]["metadata"]  # an answer keeps its sources
    assert last["history"] == stored["messages"]
    metadata = last["response_metadata"]
    assert (metadata["conversation_length"], metadata["is_multi_turn"]) == (6, True)
    assert metadata["conversation_sources_summary"]["assistant_turns"] == 3
    assert last["ab_testing"] == {"experiment_name": None, "variant_name": None, "session_id": "s-1"}

    # Another user, with the same session id, reaches none of it.
    assert (await client.get("/api/v2/sessions/s-1", params={"user_id": "bob"})).status_code == 404
    assert (await client.get("/api/v2/sessions", params={"user_id": "bob"})).json()["sessions"] == []
    assert (await client.delete("/api/v2/sessions/s-1", params={"user_id": "bob"})).status_code == 404
    intruder = (await client.post(CHAT, json=turn("What did we discuss?", user="bob"))).json()
    assert intruder["response_metadata"]["conversation_length"] == 2
    assert len((await client.get("/api/v2/sessions/s-1", params={"user_id": "alice"})).json()["messages"]) == 6


async def test_sessions_are_listed_newest_first_and_deleted_whole(client, history_backend, configure):
    configure(AUTH_TRUST_ASSERTED_USERS="true")
    for session in ("older", "newer"):
        assert (await client.post(CHAT, json=turn("What is the return period?", session=session))).status_code == 200

    first = (await client.get("/api/v2/sessions", params={"user_id": "alice", "page_size": 1})).json()
    second = (
        await client.get(
            "/api/v2/sessions", params={"user_id": "alice", "page_size": 1, "continuation": first["continuation"]}
        )
    ).json()
    deleted = await client.delete("/api/v2/sessions/newer", params={"user_id": "alice"})

    assert [s["session_id"] for s in first["sessions"]] == ["newer"]
    assert first["sessions"][0]["title"] == "What is the return period?"
    assert first["sessions"][0]["message_count"] == 2
    assert [s["session_id"] for s in second["sessions"]] == ["older"] and second["continuation"] is None
    assert deleted.status_code == 204
    assert (await client.get("/api/v2/sessions/newer", params={"user_id": "alice"})).status_code == 404
    remaining = (await client.get("/api/v2/sessions", params={"user_id": "alice"})).json()["sessions"]
    assert [s["session_id"] for s in remaining] == ["older"]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"page_size": "0"}, ["query", "page_size"]),
        ({"page_size": "101"}, ["query", "page_size"]),
        ({"sort": "asc"}, ["query", "sort"]),
    ],
)
async def test_session_listing_validates_its_query(client, params, loc):
    response = await client.get("/api/v2/sessions", params=params)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


async def test_a_bad_continuation_is_a_400(client, configure):
    configure(AUTH_TRUST_ASSERTED_USERS="true")
    response = await client.get("/api/v2/sessions", params={"user_id": "alice", "continuation": "%%%"})

    assert response.status_code == 400 and "continuation" in response.json()["detail"]


async def test_a_session_id_must_be_a_plain_token(client):
    response = await client.post(CHAT, json=turn("hi", session="../other"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "ab_testing", "session_id"]


async def test_an_empty_user_id_is_refused(client):
    body = {"question": "What is the return period?", "override_config": {"params": SHORT}}
    body["ab_testing"] = {"user_id": "", "session_id": "anon"}

    response = await client.post(CHAT, json=body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "ab_testing", "user_id"]


async def test_history_sent_by_the_client_comes_before_the_question_with_its_sources(client):
    sent = [
        {"role": "user", "content": "How long is the frame warranty?"},
        {"role": "assistant", "content": "Ten years.", "sources": [{"filename": "warranty.md"}]},
    ]
    body = {"question": "And the battery?", "history": sent, "override_config": {"params": SHORT}}

    data = (await client.post(CHAT, json=body)).json()

    assert [m["content"] for m in data["history"][:2]] == ["How long is the frame warranty?", "Ten years."]
    assert data["history"][1]["sources"] == [{"filename": "warranty.md"}]
    summary = data["response_metadata"]["conversation_sources_summary"]
    assert summary["assistant_turns"] == 2 and summary["with_sources"] >= 1
    assert summary["with_sources"] + summary["without_sources"] == 2


async def test_a_follow_up_is_searched_with_a_query_rewritten_from_the_conversation(client, configure):
    history = [
        {"role": "user", "content": "Tell me about the frame warranty."},
        {"role": "assistant", "content": "The frame has a warranty."},
    ]
    with rewriting_model() as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server)]), LLM_DEFAULT_ALIAS="remote")
        data = (await client.post(CHAT, json={"question": "How long is it?", "history": history})).json()

    rewrite_prompt = server.requests[0].body["messages"][0]["content"]
    assert "Tell me about the frame warranty." in rewrite_prompt and "How long is it?" in rewrite_prompt
    assert data["response_metadata"]["search_query"] == {"text": "frame warranty duration", "origin": "rewritten"}
    assert data["answer"] == "Ten years [1]."
    assert len(server.requests) == 2


async def test_a_failed_rewrite_falls_back_to_the_question_with_the_earlier_questions_words(client, configure):
    history = [{"role": "user", "content": "Frame warranty?"}, {"role": "assistant", "content": "Yes."}]
    with rewriting_model(rewrite_status=500) as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server)]), LLM_DEFAULT_ALIAS="remote")
        data = (await client.post(CHAT, json={"question": "How long is it?", "history": history})).json()

    assert data["response_metadata"]["search_query"] == {"text": "How long is it? Frame warranty", "origin": "fallback"}
    assert data["answer"] == "Ten years [1]." and data["errors"] == []


async def test_a_first_question_and_an_explicit_query_are_not_rewritten(client, configure):
    with rewriting_model() as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server)]), LLM_DEFAULT_ALIAS="remote")
        first = (await client.post(CHAT, json={"question": "Frame warranty?"})).json()
        explicit = (
            await client.post(
                CHAT,
                json={
                    "question": "How long is it?",
                    "history": [{"role": "user", "content": "Frame?"}, {"role": "assistant", "content": "Yes."}],
                    "fetch_args": {"AzureSearchFetcher": {"query": "frame warranty"}},
                },
            )
        ).json()

    assert first["response_metadata"]["search_query"] == {"text": "Frame warranty?", "origin": "question"}
    assert explicit["response_metadata"]["search_query"] == {"text": "frame warranty", "origin": "request"}
    assert len(server.requests) == 2  # the two answers: no rewrite call


EXPERIMENT = {
    "name": "tone",
    "variants": [
        {"name": "control", "weight": 3},
        {"name": "terse", "weight": 1, "params": {"max_tokens": 3}, "system_prompt_file": "rag_system.jinja2"},
    ],
}


async def test_ab_variants_are_assigned_by_a_stable_hash_and_applied(client, configure):
    from shared.experiments import assigned_variant

    configure(AB_EXPERIMENTS=json.dumps([EXPERIMENT]))
    assignments = {f"user-{i}": assigned_variant("tone", f"user-{i}").name for i in range(400)}

    shares = Counter(assignments.values())
    assert 0.65 < shares["control"] / 400 < 0.85  # weights 3:1
    assert all(assigned_variant("tone", user).name == name for user, name in assignments.items())
    assert assigned_variant("not-configured", "user-1") is None

    terse_user = next(user for user, name in assignments.items() if name == "terse")
    body = {"question": "Frame warranty?", "ab_testing": {"user_id": terse_user, "experiment_name": "tone"}}
    data = (await client.post(CHAT, json=body)).json()
    assert data["ab_testing"] == {"experiment_name": "tone", "variant_name": "terse", "session_id": None}
    assert data["response_metadata"]["parameters"]["max_tokens"] == 3  # the variant's parameter
    assert data["template_info"]["system_prompt_source"] == "file:rag_system.jinja2"

    body["override_config"] = {"params": {"max_tokens": 5}}  # the request's own choice wins
    assert (await client.post(CHAT, json=body)).json()["response_metadata"]["parameters"]["max_tokens"] == 5


async def test_chat_refuses_rag_only_fields(client):
    response = await client.post(CHAT, json={"question": "hi", "skip_knowledge_base": True})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "skip_knowledge_base"]


async def test_an_unreachable_history_store_is_reported_not_hidden(client, configure, caplog):
    configure(HISTORY_BACKEND="cosmos", HISTORY_COSMOS_ENDPOINT="https://127.0.0.1:9", HISTORY_COSMOS_KEY="a2V5")
    configure(AUTH_TRUST_ASSERTED_USERS="true")

    turn_response = await client.post(CHAT, json=turn("What is the return period?"))
    listing = await client.get("/api/v2/sessions", params={"user_id": "alice"})

    errors = turn_response.json()["errors"]
    assert turn_response.status_code == 200
    assert errors[0] == {
        "stage": "history",
        "code": "history_failed",
        "message": "The conversation history could not be read or saved.",
    }
    assert listing.status_code == 503 and listing.json()["code"] == "history_failed"
    assert "a2V5" not in turn_response.text + listing.text + caplog.text
    assert "Cosmos DB read failed" in caplog.text


async def test_a_streamed_chat_turn_is_stored_like_any_other(client, configure, tmp_path):
    configure(HISTORY_SQLITE_PATH=str(tmp_path / "history.sqlite"))

    async with client.stream("POST", CHAT, json=turn("Frame warranty?", stream=True)) as response:
        text = "".join([chunk async for chunk in response.aiter_text()])
    final = json.loads(text.split("event: final\ndata: ")[1].split("\n")[0])
    stored = (await client.get("/api/v2/sessions/s-1", params={"user_id": "alice"})).json()["messages"]

    assert [m["content"] for m in stored] == ["Frame warranty?", final["answer"]]
    assert final["history"] == stored
