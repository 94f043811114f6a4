"""A follow-up is understood the same way whatever API carries the conversation: on the embedded
default (extractive answers), the second question of each conversation gets its own answer, not
the first one's again (issue 25's five conversations, and every family that keeps one)."""

from __future__ import annotations

import uuid

import pytest

FRAME = "How long is the frame warranty?"
BATTERY_WARRANTY = "2 years or 500 full charge cycles"


@pytest.fixture
def extractive(configure, tmp_path):
    configure(LLM_ANSWER_STRATEGY="extractive", HISTORY_SQLITE_PATH=str(tmp_path / "history.sqlite"))


def session() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


async def test_the_readme_conversation_answers_the_battery_warranty(client, extractive):
    ids = {"user_id": "ana", "session_id": session()}
    first = (await client.post("/api/v2/flexible-chat", json={"question": FRAME, "ab_testing": ids})).json()
    second = (
        await client.post("/api/v2/flexible-chat", json={"question": "And the battery?", "ab_testing": ids})
    ).json()

    assert "10 years" in first["answer"]
    assert BATTERY_WARRANTY in second["answer"] and "Frame" not in second["answer"]
    assert second["response_metadata"]["search_query"]["origin"] == "expanded"


async def test_flexible_rag_reads_the_history_it_is_given(client, extractive):
    history = [
        {"role": "user", "content": FRAME},
        {"role": "assistant", "content": "Frame and rigid fork: 10 years [1]."},
    ]
    body = (await client.post("/api/v2/flexible-rag", json={"question": "And the battery?", "history": history})).json()

    assert BATTERY_WARRANTY in body["answer"]


async def test_chat_completions_with_client_kept_messages_carry_the_question_to_the_new_topic(client, extractive):
    first_question = "My bike is a Zephyr. How long is the frame warranty?"
    messages = [{"role": "user", "content": first_question}]
    first = (await client.post("/api/v1/chat/completions", json={"model": "smollm2", "messages": messages})).json()
    first_answer = first["choices"][0]["message"]["content"]
    messages += [{"role": "assistant", "content": first_answer}, {"role": "user", "content": "And the motor?"}]
    second = (await client.post("/api/v1/chat/completions", json={"model": "smollm2", "messages": messages})).json()

    assert "10 years" in first_answer and "weighs" not in first_answer
    assert "3 years" in second["choices"][0]["message"]["content"]


async def test_session_chat_answers_how_to_fix_the_error_it_was_asked_about(client, extractive):
    ids = session()
    first = (await client.post("/api/v1/chat", json={"sessionId": ids, "prompt": "What does error E04 mean?"})).json()
    second = (await client.post("/api/v1/chat", json={"sessionId": ids, "prompt": "How do I fix it?"})).json()

    assert "speed sensor" in first["answer"]
    assert "Check the magnet on the rear spoke" in second["answer"]


async def test_an_agents_stored_session_continues_with_the_follow_up(client, extractive):
    url = "/api/v1/chat/completions"
    first = await client.post(
        url, json={"model": "smollm2", "create_session": True, "messages": [{"role": "user", "content": FRAME}]}
    )
    stored = {"model": "smollm2", "store_in_session": first.headers["x-session-id"]}
    second = await client.post(url, json={**stored, "messages": [{"role": "user", "content": "And the battery?"}]})

    assert BATTERY_WARRANTY in second.json()["choices"][0]["message"]["content"]


async def test_the_responses_api_continues_from_the_previous_response(client, extractive):
    first = (
        await client.post("/api/v1/responses", json={"model": "smollm2", "input": "What does error E04 mean?"})
    ).json()
    second = await client.post(
        "/api/v1/responses", json={"model": "smollm2", "input": "How do I fix it?", "previous_response_id": first["id"]}
    )

    assert "Check the magnet on the rear spoke" in second.json()["output"][0]["content"][0]["text"]


async def test_multi_source_chat_reads_its_history(client, extractive):
    history = [
        {"role": "user", "content": FRAME},
        {"role": "assistant", "content": "Frame and rigid fork: 10 years [1]."},
    ]
    body = (await client.post("/api/v1/chat/complete", json={"query": "And the battery?", "history": history})).json()

    assert BATTERY_WARRANTY in body["response"]


async def test_a_topic_switch_takes_nothing_from_the_conversation(client, extractive):
    history = [
        {"role": "user", "content": FRAME},
        {"role": "assistant", "content": "Frame and rigid fork: 10 years [1]."},
    ]
    question = "Which fluid do the hydraulic brakes use?"
    body = (await client.post("/api/v2/flexible-chat", json={"question": question, "history": history})).json()

    assert body["response_metadata"]["search_query"] == {"text": question, "origin": "question"}
    assert "mineral oil" in body["answer"]
