"""Conversations kept by (user, session), the same behavior from both stores: SQLite, and
Cosmos DB through the real SDK against the emulator."""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest

from shared import backends
from shared.core.errors import RequestError, UpstreamError
from shared.core.types import Image, Message, RetrievalSpec, Source, TurnRequest
from shared.history.cosmos import SPILL_EVERY, CosmosHistoryStore
from shared.history.sqlite import SqliteHistoryStore
from tests.conftest import COSMOS_EMULATOR_KEY
from tests.support import make_orchestrator


class RequestCounter:
    """Counts the HTTP requests a Cosmos client sends (its raw_response_hook)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []

    def __call__(self, response) -> None:
        self.requests.append((response.http_request.method, response.http_response.status_code))


@pytest.fixture
async def cosmos_container(cosmos_emulator):
    from azure.cosmos import PartitionKey
    from azure.cosmos.aio import CosmosClient

    counter = RequestCounter()
    async with CosmosClient(cosmos_emulator, credential=COSMOS_EMULATOR_KEY, raw_response_hook=counter) as client:
        database = await client.create_database_if_not_exists("chat")
        container = await database.create_container(
            f"history-{uuid.uuid4().hex[:8]}", partition_key=PartitionKey("/userId"), default_ttl=-1
        )
        counter.requests.clear()
        yield container, counter


@pytest.fixture(params=["sqlite", "cosmos"])
def store(request, tmp_path):
    """A fresh store of each kind, keeping 10 messages in a Cosmos session item."""
    if request.param == "sqlite":
        return SqliteHistoryStore(tmp_path / "history.sqlite")
    container, _ = request.getfixturevalue("cosmos_container")
    return CosmosHistoryStore(container, keep=10)


def exchange(i: int) -> list[Message]:
    return [Message("user", f"q{i}"), Message("assistant", f"a{i}")]


async def test_an_unknown_session_has_no_messages(store):
    assert (await store.load("u", "nothing-here", 10)).messages == ()


async def test_messages_round_trip_with_their_sources_and_image_references(store):
    source = Source("id-1", "docs", 0.5, "text", {"filename": "a.md", "tags": ["x"]}, {"text": ["<em>t</em>"]})
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake bytes").decode()
    images = (Image("https://example.com/a.png", "low"), Image(png))

    await store.append(
        "u", "s", [Message("user", "what is this?", images=images), Message("assistant", "a", (source,))]
    )
    question, answer = (await store.load("u", "s", 10)).messages

    assert answer.sources == (source,)
    assert question.images[0] == Image("https://example.com/a.png", "low")
    assert question.images[1].url is None  # the bytes are never stored, only a note of them
    assert question.images[1].note.startswith("image/png, 15 bytes, sha256 ")


async def test_a_session_belongs_to_its_user(store):
    await store.append("alice", "s-1", exchange(1))

    assert (await store.load("mallory", "s-1", 10)).messages == ()
    assert (await store.list_sessions("mallory", 10, None)).sessions == ()
    assert await store.delete("mallory", "s-1") is False
    assert [m.content for m in (await store.load("alice", "s-1", 10)).messages] == ["q1", "a1"]


async def test_twenty_concurrent_turns_are_all_kept_none_twice(store):
    async def turn(i):  # as the orchestrator does: load, then append with what was loaded
        loaded = await store.load("u", "busy", 10)
        await store.append("u", "busy", exchange(i), loaded)

    await asyncio.gather(*(turn(i) for i in range(20)))
    messages = (await store.load("u", "busy", None)).messages

    assert len(messages) == 40
    pairs = [(messages[i].content, messages[i + 1].content) for i in range(0, 40, 2)]
    assert sorted(pairs) == sorted((f"q{i}", f"a{i}") for i in range(20))  # no exchange split, lost or doubled
    latest = (await store.load("u", "busy", 2)).messages
    assert [m.content for m in latest] == list(pairs[-1])


async def test_a_long_conversation_loads_whole_and_by_its_newest(store):
    for i in range(SPILL_EVERY + 15):  # 70 messages: past a Cosmos item's window, twice
        await store.append("u", "long", exchange(i))

    everything = [m.content for m in (await store.load("u", "long", None)).messages]
    newest = [m.content for m in (await store.load("u", "long", 5)).messages]

    assert everything == [c for i in range(SPILL_EVERY + 15) for c in (f"q{i}", f"a{i}")]
    assert newest == everything[-5:]


async def test_sessions_list_newest_first_a_page_at_a_time(store):
    for name in ("first", "second", "third"):
        await store.append("u", name, exchange(0))
    await store.append("u", "first", exchange(1))  # now the most recently active

    page = await store.list_sessions("u", 2, None)
    rest = await store.list_sessions("u", 2, page.continuation)

    assert [s.session_id for s in page.sessions] == ["first", "third"]
    assert [s.session_id for s in rest.sessions] == ["second"] and rest.continuation is None
    first = page.sessions[0]
    assert (first.title, first.message_count) == ("q0", 4)
    assert first.updated_at > first.created_at


async def test_a_continuation_not_from_the_api_is_refused(store):
    with pytest.raises(RequestError):
        await store.list_sessions("u", 2, "not-a-token!")


async def test_delete_removes_the_session_and_all_its_messages(store):
    for i in range(SPILL_EVERY):
        await store.append("u", "gone", exchange(i))
    await store.append("u", "kept", exchange(0))

    assert await store.delete("u", "gone") is True
    assert (await store.load("u", "gone", None)).messages == ()
    assert [s.session_id for s in (await store.list_sessions("u", 10, None)).sessions] == ["kept"]
    assert await store.delete("u", "gone") is False


async def test_sqlite_sessions_expire_after_their_ttl(tmp_path, monkeypatch):
    import shared.history.sqlite as module

    store = SqliteHistoryStore(tmp_path / "history.sqlite", ttl_seconds=60)
    await store.append("u", "old", exchange(0))
    later = module.time.time() + 61
    monkeypatch.setattr(module.time, "time", lambda: later)
    await store.append("u", "new", exchange(1))  # a write also purges what expired

    assert (await store.load("u", "old", 10)).messages == ()
    assert [s.session_id for s in (await store.list_sessions("u", 10, None)).sessions] == ["new"]
    (count,) = store._db.execute("SELECT count(*) FROM session_messages WHERE session_id = 'old'").fetchone()
    assert count == 0


async def test_cosmos_items_carry_the_ttl_and_a_user_partition(cosmos_container):
    container, _ = cosmos_container
    store = CosmosHistoryStore(container, keep=2, ttl_seconds=3600)
    for i in range(SPILL_EVERY // 2 + 1):  # enough to move the oldest messages to a page
        await store.append("u", "s", exchange(i))

    items = [i async for i in container.query_items("SELECT * FROM c WHERE c.userId = 'u'", partition_key="u")]

    assert {i["type"] for i in items} == {"session", "page"}
    assert all(i["ttl"] == 3600 and i["userId"] == "u" and i["sessionId"] == "s" for i in items)
    session = next(i for i in items if i["type"] == "session")
    assert len(session["messages"]) == 2 and session["messageCount"] == 2 * (SPILL_EVERY // 2 + 1)


async def test_a_cosmos_turn_costs_one_read_and_one_write(cosmos_container):
    container, counter = cosmos_container
    store = CosmosHistoryStore(container, keep=50)
    costs = []
    for i in range(5):
        counter.requests.clear()
        loaded = await store.load("u", "s", 50)
        await store.append("u", "s", exchange(i), loaded)
        costs.append(list(counter.requests))

    assert costs[0] == [("GET", 404), ("POST", 201)]  # a new session: read (none), create
    assert all(cost == [("GET", 200), ("PUT", 200)] for cost in costs[1:])  # read, conditional replace


async def test_an_unreachable_cosmos_db_is_an_upstream_error():
    from azure.cosmos.aio import CosmosClient

    client = CosmosClient("https://127.0.0.1:9", credential=COSMOS_EMULATOR_KEY, retry_total=0)
    try:
        store = CosmosHistoryStore(client.get_database_client("chat").get_container_client("x"), keep=10)
        with pytest.raises(UpstreamError) as failure:
            await store.load("u", "s", 10)
    finally:
        await client.close()

    assert failure.value.code == "history_failed" and "127.0.0.1" not in failure.value.message


async def test_a_failed_turn_is_not_stored(tmp_path):
    store = SqliteHistoryStore(tmp_path / "history.sqlite")

    class FailingModel:
        info = backends.chat_model().info
        default_parameters = {}

        def check_params(self, params):
            pass

        async def complete(self, messages, params):
            raise UpstreamError("model_failed", "The language model failed to produce an answer.")

        def count_tokens(self, messages):
            return 10

        def count_known_tokens(self, messages):
            return None  # nothing counted before: count_tokens, in a thread

    orchestrator = make_orchestrator(chat_model=lambda alias: FailingModel(), history=lambda: store)
    result = await orchestrator.answer(
        TurnRequest("q", retrieval=RetrievalSpec(enabled=False), user_id="u", session_id="s", session_owner="u")
    )

    assert result.errors and (await store.load("u", "s", 10)).messages == ()
