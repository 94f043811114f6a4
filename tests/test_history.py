"""Conversations kept by (user, session): continuation, isolation between users, concurrency."""

from __future__ import annotations

import asyncio

from shared import backends
from shared.core.errors import UpstreamError
from shared.core.types import Message, RetrievalSpec, Source, TurnRequest
from shared.history.sqlite import SqliteHistoryStore
from tests.support import make_orchestrator

URL = "/api/v2/flexible-rag"
SHORT = {"max_tokens": 6, "stop": ["."]}


def turn(question, user, session):
    return {
        "question": question,
        "ab_testing": {"user_id": user, "session_id": session},
        "override_config": {"params": SHORT},
    }


async def test_a_session_continues_across_requests_and_belongs_to_its_user(client):
    first = (await client.post(URL, json=turn("How long is the frame warranty?", "alice", "s-42"))).json()
    second = (await client.post(URL, json=turn("And the battery?", "alice", "s-42"))).json()
    intruder = (await client.post(URL, json=turn("What did we discuss?", "mallory", "s-42"))).json()

    assert [m["content"] for m in second["history"]][:2] == ["How long is the frame warranty?", first["answer"]]
    assert second["history"][1]["sources"] == first["metadata"]  # the stored answer kept its sources
    assert second["response_metadata"]["conversation_length"] == 4
    assert second["response_metadata"]["is_multi_turn"] is True
    assert [m["content"] for m in intruder["history"]] == ["What did we discuss?", intruder["answer"]]
    assert intruder["response_metadata"]["is_multi_turn"] is False


async def test_concurrent_turns_on_one_session_are_all_kept_in_order(tmp_path):
    store = SqliteHistoryStore(tmp_path / "history.sqlite")

    async def exchange(i):
        await store.append("u", "s", [Message("user", f"q{i}"), Message("assistant", f"a{i}")])

    await asyncio.gather(*(exchange(i) for i in range(20)))
    messages = await store.load("u", "s", 100)

    assert len(messages) == 40
    pairs = [(messages[i].content, messages[i + 1].content) for i in range(0, 40, 2)]
    assert sorted(pairs) == sorted((f"q{i}", f"a{i}") for i in range(20))  # no exchange split or lost
    assert [m.content for m in await store.load("u", "s", 2)] == [pairs[-1][0], pairs[-1][1]]  # the newest
    assert await store.load("other-user", "s", 100) == ()


async def test_sources_survive_the_round_trip(tmp_path):
    store = SqliteHistoryStore(tmp_path / "history.sqlite")
    source = Source("id-1", "docs", 0.5, "text", {"filename": "a.md", "tags": ["x"]}, {"text": ["<em>t</em>"]})

    await store.append("u", "s", [Message("assistant", "answer", (source,))])

    assert (await store.load("u", "s", 10))[0].sources == (source,)


async def test_a_failed_turn_is_not_stored(tmp_path):
    store = SqliteHistoryStore(tmp_path / "history.sqlite")

    class FailingModel:
        info = backends.chat_model().info
        default_parameters = {}

        async def complete(self, messages, params):
            raise UpstreamError("model_failed", "The language model failed to produce an answer.")

        def count_tokens(self, messages):
            return 10

    orchestrator = make_orchestrator(chat_model=lambda alias: FailingModel(), history=lambda: store)
    result = await orchestrator.answer(
        TurnRequest("q", retrieval=RetrievalSpec(enabled=False), user_id="u", session_id="s")
    )

    assert result.errors and await store.load("u", "s", 10) == ()
