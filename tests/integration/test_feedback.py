"""Feedback on answers, kept with the message in both history stores and returned with the session."""

from __future__ import annotations

import pytest

from shared.core.errors import RequestError
from shared.core.types import Feedback, Message
from shared.history.cosmos import SPILL_EVERY, CosmosHistoryStore
from tests.integration.test_history import cosmos_container, exchange, store  # noqa: F401 - fixtures

UP = Feedback("up", "clear and cited")
DOWN = Feedback("down")


async def test_feedback_is_kept_with_its_answer_and_can_be_changed(store):  # noqa: F811
    await store.append("u", "s", [*exchange(1), *exchange(2)])

    assert await store.set_feedback("u", "s", 1, UP)
    assert await store.set_feedback("u", "s", 3, UP)
    assert await store.set_feedback("u", "s", 3, DOWN)
    messages = (await store.load("u", "s", None)).messages

    assert [m.feedback for m in messages] == [None, UP, None, DOWN]
    assert [m.content for m in messages] == ["q1", "a1", "q2", "a2"]


async def test_feedback_reaches_only_the_users_own_answers(store):  # noqa: F811
    await store.append("alice", "s", exchange(1))

    assert not await store.set_feedback("bob", "s", 1, DOWN)  # Bob has no such session
    assert not await store.set_feedback("alice", "s", 2, DOWN)  # no such message
    with pytest.raises(RequestError, match="assistant"):
        await store.set_feedback("alice", "s", 0, DOWN)  # a question takes no feedback
    assert (await store.load("alice", "s", None)).messages[1].feedback is None


async def test_feedback_on_an_answer_moved_to_an_older_cosmos_page(cosmos_container):  # noqa: F811
    container, _ = cosmos_container
    history = CosmosHistoryStore(container, keep=4)
    for i in range((4 + SPILL_EVERY) // 2 + 1):
        await history.append("u", "s", exchange(i))
    session = await container.read_item("s", partition_key="u")
    assert session["pages"] and all(m["seq"] > 2 for m in session["messages"])  # the first answer is in a page

    assert await history.set_feedback("u", "s", 1, UP)

    assert (await history.load("u", "s", None)).messages[1].feedback == UP
    assert (await history.load("u", "s", None)).messages[3].feedback is None


async def _session_with_an_answer(session_id: str) -> None:
    from shared.backends import history_store
    from shared.identity import Principal

    owner = Principal.of(None, "ana", trust_asserted=False, function_key=None).session_owner("v2", session_id)
    await history_store().append(owner, session_id, [Message("user", "Frame warranty?"), Message("assistant", "10 y")])


async def test_feedback_given_over_http_comes_back_when_the_session_is_read(client):
    await _session_with_an_answer("fb-1")
    url = "/api/v2/sessions/fb-1/messages/1/feedback?user_id=ana"

    given = await client.post(url, json={"rating": "down", "comment": "  too short  "})
    read = await client.get("/api/v2/sessions/fb-1", params={"user_id": "ana"})

    assert given.status_code == 200
    assert given.json() == {"session_id": "fb-1", "index": 1, "feedback": {"rating": "down", "comment": "too short"}}
    assert [m["feedback"] for m in read.json()["messages"]] == [None, {"rating": "down", "comment": "too short"}]


async def test_feedback_over_http_is_refused_when_it_does_not_fit(client):
    await _session_with_an_answer("fb-2")
    base = "/api/v2/sessions/fb-2/messages"

    bad_rating = await client.post(f"{base}/1/feedback?user_id=ana", json={"rating": "meh"})
    bad_index = await client.post(f"{base}/one/feedback?user_id=ana", json={"rating": "up"})
    question = await client.post(f"{base}/0/feedback?user_id=ana", json={"rating": "up"})
    other_user = await client.post(f"{base}/1/feedback?user_id=bob", json={"rating": "up"})

    assert bad_rating.status_code == 422 and bad_rating.json()["detail"][0]["loc"] == ["body", "rating"]
    assert bad_index.status_code == 422 and bad_index.json()["detail"][0]["loc"] == ["path", "index"]
    assert question.status_code == 400
    assert other_user.status_code == 404
