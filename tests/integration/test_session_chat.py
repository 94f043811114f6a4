"""POST /api/v1/chat (seed 000): {sessionId, prompt, context}, history kept by sessionId."""

from __future__ import annotations

import json

import pytest

from shared import backends
from shared.identity import Principal

URL = "/api/v1/chat"
# Seed 000's "test data", as the README shows it.
TEST_DATA = {"sessionId": "some-id", "prompt": "How long is the frame warranty?", "context": "warranty-policy.md"}


@pytest.fixture
def session_chat(configure, tmp_path):
    configure(
        HISTORY_SQLITE_PATH=str(tmp_path / "history.sqlite"),
        AGENTS_CONTEXT_FILTER="filename eq {context}",
        AGENTS_DEFINITIONS=json.dumps(
            [
                {
                    "id": "2b1e4f0c-8d5a-4b7e-9c3f-6a1d2e3f4a5b",
                    "name": "support",
                    "system_prompt": "Answer about {{ context or 'any product' }} from: "
                    "{% for s in sources %}[{{ loop.index }}] {{ s.text }} {% endfor %}",
                    "parameters": {"max_tokens": 8, "stop": ["."]},
                }
            ]
        ),
    )


async def test_the_seed_test_data_answers_with_citations_from_its_context(client, session_chat):
    response = await client.post(URL, json=TEST_DATA)
    data = response.json()

    assert response.status_code == 200, response.text
    assert data["sessionId"] == "some-id" and data["context"] == "warranty-policy.md"
    assert data["answer"] and data["errors"] == []
    assert data["citations"] and {c["filename"] for c in data["citations"]} == {"warranty-policy.md"}
    assert [c["index"] for c in data["citations"]] == list(range(1, len(data["citations"]) + 1))


async def test_follow_up_questions_continue_the_session(client, session_chat):
    lengths = []
    for prompt in ("What is the return period?", "And for e-bikes?", "Who pays for shipping?"):
        data = (await client.post(URL, json={"sessionId": "s-9", "prompt": prompt})).json()
        lengths.append(data["conversation_length"])
    # No identity: the conversation is stored under the owner derived from its session id.
    owner = Principal(None, None).session_owner("session-chat", "s-9")
    stored = [{"content": m.content} for m in (await backends.history_store().load(owner, "s-9", None)).messages]

    assert lengths == [2, 4, 6]
    assert [m["content"] for m in stored[::2]] == [
        "What is the return period?",
        "And for e-bikes?",
        "Who pays for shipping?",
    ]


async def test_context_reaches_the_prompt_and_cannot_widen_the_filter(client, session_chat):
    hostile = "x' or filename ne 'y"
    data = (await client.post(URL, json={"sessionId": "s-1", "prompt": "Warranty?", "context": hostile})).json()

    assert data["citations"] == []  # the whole value is one quoted literal: no file has that name
    assert data["errors"] == []


async def test_without_context_retrieval_is_not_narrowed(client, session_chat):
    data = (await client.post(URL, json={"sessionId": "s-2", "prompt": "How do I charge the battery?"})).json()

    assert data["citations"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"prompt": "hi"}, ["body", "sessionId"]),
        ({"sessionId": "s", "prompt": ""}, ["body", "prompt"]),
        ({"sessionId": "../etc", "prompt": "hi"}, ["body", "sessionId"]),
        ({"sessionId": "s", "prompt": "hi", "context": "x" * 2001}, ["body", "context"]),
        ({"sessionId": "s", "prompt": "hi", "extra": 1}, ["body", "extra"]),
    ],
)
async def test_bad_requests_are_422(client, body, loc):
    response = await client.post(URL, json=body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
