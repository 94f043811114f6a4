"""Issue 24's red team: requests built to keep the server busy for minutes on its event loop
(a 7.7 MB history, a 4.2 MB and a 7.8 MB filter, a 2.3 MB query). Each is refused before the
work with a short answer, or processed off the event loop; and cheap requests are answered
while each one is in flight, shown by order and progress, never by a clock."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

from devtools.heavy_requests import AT_THE_LIMITS, CHAT, CHEAP, RAG, RED_TEAM, history, rag
from devtools.servers import running_in_background
from shared.core.types import Completion, Message, ModelInfo, RetrievalSpec, TokenUsage, TurnRequest
from shared.llm.embedded import EmbeddedChatModel
from shared.retrieval import odata
from shared.wire.common import MAX_HISTORY_CHARS
from shared.wire.openai_compat import ChatCompletionsRequest
from shared.wire.openai_responses import ResponsesRequest
from tests.support import make_orchestrator

SHORT_ANSWER = 1_000  # bytes: an answer to a refused request quotes a little of it, never all


@pytest.fixture(scope="module")
def server(sample_index):
    """The local server, with the sample index, for the module's tests."""
    with running_in_background(startup_timeout=300) as base_url:
        yield base_url


@pytest.mark.parametrize(
    ("path", "body", "status", "limit"), [*RED_TEAM.values(), *AT_THE_LIMITS.values()], ids=[*RED_TEAM, *AT_THE_LIMITS]
)
async def test_cheap_requests_are_answered_while_a_heavy_one_is_in_flight(server, path, body, status, limit):
    content = json.dumps(body).encode()  # encoded first: the client's own work is not in flight
    async with httpx.AsyncClient(base_url=server, timeout=600) as http:
        heavy = asyncio.create_task(http.post(path, content=content, headers={"content-type": "application/json"}))
        answered_meanwhile = 0
        while not heavy.done():
            cheap = await http.get(CHEAP)
            assert cheap.status_code == 200
            answered_meanwhile += not heavy.done()
        response = await heavy

    assert response.status_code == status, response.text[:500]
    assert answered_meanwhile >= 1
    if limit is not None:
        assert len(response.content) < SHORT_ANSWER
        assert limit in response.text


class Holdup:
    """Stops a heavy request's work in the middle until a cheap request has been answered.
    Work on the event loop's own thread could never see that answer: there it is only recorded."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.reached = asyncio.Event()
        self.cheap_answered = threading.Event()
        self.seen: list[str] = []

    def hold(self) -> None:
        if self.seen:
            return
        if threading.get_ident() == self.loop_thread:
            self.seen.append("on the event loop")
            return
        self.seen.append("in a thread")
        self.loop.call_soon_threadsafe(self.reached.set)
        self.seen.append("resumed after the cheap answer" if self.cheap_answered.wait(60) else "never resumed")

    async def run(self, client: httpx.AsyncClient, path: str, body: dict) -> tuple[httpx.Response, list[str]]:
        """The heavy request's answer, and the order in which it and a cheap request were answered."""
        order: list[str] = []
        heavy = asyncio.create_task(client.post(path, json=body))
        reached = asyncio.create_task(self.reached.wait())
        await asyncio.wait({heavy, reached}, return_when=asyncio.FIRST_COMPLETED)
        if reached.done():
            assert (await client.get(CHEAP)).status_code == 200
            order.append("cheap")
            self.cheap_answered.set()
        reached.cancel()
        response = await heavy
        order.append("heavy")
        return response, order


async def test_a_long_history_is_counted_off_the_event_loop(client, monkeypatch):
    holdup = Holdup()
    count_tokens = EmbeddedChatModel.count_tokens

    def counting(model, messages):
        if any(len(m.content) > 50_000 for m in messages):
            holdup.hold()
        return count_tokens(model, messages)

    monkeypatch.setattr(EmbeddedChatModel, "count_tokens", counting)

    response, order = await holdup.run(client, CHAT, AT_THE_LIMITS["990,000-character history"][1])

    assert response.status_code == 200, response.text[:500]
    assert holdup.seen == ["in a thread", "resumed after the cheap answer"]
    assert order == ["cheap", "heavy"]


async def test_a_long_filter_is_parsed_off_the_event_loop(client, monkeypatch):
    holdup = Holdup()
    parse = odata.parse

    def parsing(text):
        if len(text) > 5_000:
            holdup.hold()
        return parse(text)

    monkeypatch.setattr(odata, "parse", parsing)

    response, order = await holdup.run(client, RAG, AT_THE_LIMITS["500-condition filter"][1])

    assert response.status_code == 200, response.text[:500]
    assert holdup.seen == ["in a thread", "resumed after the cheap answer"]
    assert order == ["cheap", "heavy"]


class CountingModel:
    """One token a word, four a message and three to prime the reply; it records what it counted."""

    info = ModelInfo("counting", "test", None, "counting", context_window=1_100)
    default_parameters = {"max_tokens": 100}

    def __init__(self) -> None:
        self.counted: list[str] = []
        self.prompt: list[Message] = []

    def check_params(self, params):
        """Nothing to refuse: a ChatModel's check of the request (interfaces.ChatModel)."""

    def count_tokens(self, messages):
        self.counted.extend(m.content for m in messages)
        return 3 + sum(len(m.content.split()) + 4 for m in messages)

    def count_known_tokens(self, messages):
        return None  # nothing counted before: count_tokens, in a thread

    async def complete(self, messages, params):
        self.prompt = list(messages)
        return Completion(("ok",), TokenUsage(1, 1), "stop", {})


async def test_prompt_fitting_counts_each_message_once_and_no_further_back_than_fits():
    model = CountingModel()
    turns = tuple(Message(("user", "assistant")[n % 2], f"m{n} " + "word " * 95) for n in range(200))  # 100 tokens
    orchestrator = make_orchestrator(chat_model=lambda alias: model)

    result = await orchestrator.answer(TurnRequest("q", history=turns, retrieval=RetrievalSpec(enabled=False)))

    assert result.answer == "ok"
    counted = [text for text in model.counted if text in {m.content for m in turns}]
    kept = [m.content for m in model.prompt if m.role != "system"][:-1]  # the question last
    assert kept and kept == [m.content for m in turns[-len(kept) :]]  # the newest, in order
    others = model.count_tokens(model.prompt) - 100 * len(kept)
    assert others + 100 * len(kept) <= 1_000 < others + 100 * (len(kept) + 1)  # one more would not fit
    assert counted == [m.content for m in reversed(turns[-len(kept) - 1 :])]  # once each, back to the first left out


def messages(count: int, chars: int) -> list[dict]:
    return [{"role": ("user", "assistant")[(n + count + 1) % 2], "content": "w" * chars} for n in range(count)]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/api/v1/chat/completions", {"messages": messages(11, 99_000)}, ["body", "messages"]),
        ("/api/v1/responses", {"input": messages(11, 99_000)}, ["body", "input"]),
        ("/api/v1/chat/complete", {"query": "q", "history": messages(11, 99_000)}, ["body", "history"]),
        (CHAT, {"question": "q", "history": history(11, 99_000)}, ["body", "history"]),
    ],
)
async def test_every_family_that_takes_messages_bounds_their_characters_in_all(client, path, body, loc):
    response = await client.post(path, json=body)

    assert response.status_code == 422, response.text[:500]
    [issue] = response.json()["detail"]
    assert issue["loc"][:2] == loc
    assert issue["type"] == "too_long" and f"a request takes at most {MAX_HISTORY_CHARS}" in issue["msg"]
    assert len(response.content) < SHORT_ANSWER


async def test_responses_input_items_are_bounded_in_number(client):
    items = [{"type": "function_call", "call_id": f"c{n}", "name": "f", "arguments": "{}"} for n in range(1_001)]

    response = await client.post("/api/v1/responses", json={"input": [{"role": "user", "content": "q"}, *items]})

    assert response.status_code == 422
    assert "at most 1000 items" in response.text


def test_consecutive_function_calls_become_one_assistant_message():
    call = {"type": "function_call", "name": "f", "arguments": "{}"}
    body = ResponsesRequest.model_validate(
        {
            "input": [
                {"role": "user", "content": "q"},
                call | {"call_id": "a"},
                call | {"call_id": "b"},
                {"type": "function_call_output", "call_id": "a", "output": "1"},
                {"type": "function_call_output", "call_id": "b", "output": "2"},
                call | {"call_id": "c"},
            ]
        }
    )

    assert [(m.role, [c.id for c in m.tool_calls], m.tool_call_id) for m in body.messages()] == [
        ("user", [], None),
        ("assistant", ["a", "b"], None),
        ("tool", [], "a"),
        ("tool", [], "b"),
        ("assistant", ["c"], None),
    ]


@pytest.mark.parametrize(
    ("fetch_args", "named"),
    [
        ({"filter": "category eq '" + "x" * 30_000}, 'invalid filter "category eq'),
        ({"filter": "(" * 65 + "category eq 'policy'" + ")" * 65}, "nests parentheses more than 64 deep"),
        ({"filter": "category eq 'policy' or " * 501 + "category eq 'policy'"}, "more than 500 conditions"),
        ({"select_fields": ["x" * 1_000_000]}, "xxx… (1000000 characters)"),
        ({"facets": ["category,count:" + "9" * 1_000_000]}, "unsupported facet parameter"),
    ],
)
async def test_a_refusal_quotes_a_little_of_what_it_refuses(client, fetch_args, named):
    response = await client.post(RAG, json=rag(**fetch_args))

    assert response.status_code == 400, response.text[:500]
    assert named in response.json()["detail"]
    assert len(response.content) < SHORT_ANSWER


@pytest.mark.parametrize(("request_model", "key"), [(ChatCompletionsRequest, "messages"), (ResponsesRequest, "input")])
def test_a_message_of_many_characters_is_one_text_not_many_parts(request_model, key):
    """The 100-part limit of a message's content applies to lists of parts, not to the characters of a text."""
    body = request_model.model_validate({key: [{"role": "user", "content": "w" * 5_000}]})

    assert len(body.messages()[0].content if key == "input" else body.messages[0].text()) == 5_000
