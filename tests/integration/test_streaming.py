"""Server-Sent Events from /api/v2/flexible-rag: order, content, refusals, and failures mid-stream."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from devtools.servers import running_in_background
from tests.recording_server import RecordingServer, StreamScript
from tests.support import sse_events

URL = "/api/v2/flexible-rag"


def read_events(response: httpx.Response) -> list[tuple[str, dict]]:
    return sse_events(response.iter_lines())


@pytest.fixture(scope="module")
def server(sample_index):
    with running_in_background() as base_url:
        yield base_url


def test_stream_sends_accepted_sources_deltas_then_the_final_response(server):
    question = {
        "question": "How long does a full charge take?",
        "stream": True,
        "override_config": {"params": {"max_tokens": 24, "seed": 1}},
    }
    with httpx.stream("POST", f"{server}{URL}", json=question, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)

    names = [name for name, _ in events]
    assert names[:2] == ["accepted", "sources"] and names[-1] == "final"
    assert set(names[2:-1]) == {"delta"} and len(names) > 5  # the answer arrives in pieces
    final = events[-1][1]
    assert events[0][1] == {"model": final["response_metadata"]["model_used"]["alias"]}
    assert events[1][1]["metadata"] == final["metadata"] and final["metadata"]
    assert "".join(data["text"] for name, data in events if name == "delta").strip() == final["answer"]
    non_streaming = httpx.post(f"{server}{URL}", json={**question, "stream": False}, timeout=60).json()
    assert set(final) == set(non_streaming)
    assert final["answer"] == non_streaming["answer"]  # same seed, same model: the same answer


def test_accept_header_asks_for_a_stream_too(server):
    headers = {"accept": "text/event-stream"}
    body = {"question": "Hi", "skip_knowledge_base": True, "override_config": {"params": {"max_tokens": 4}}}
    with httpx.stream("POST", f"{server}{URL}", json=body, headers=headers, timeout=60) as response:
        events = read_events(response)

    names = [name for name, _ in events]
    assert names[0] == "accepted" and names[1] == "delta" and names[-1] == "final"  # no search: no sources


@pytest.mark.parametrize(
    ("extra", "status"),
    [({"override_config": {"n": 2}}, 400), ({"override_config": {"llm": "nope"}}, 400), ({"question": ""}, 422)],
)
def test_refused_streams_are_plain_json_answers(server, extra, status):
    response = httpx.post(f"{server}{URL}", json={"question": "Hi", "stream": True, **extra}, timeout=60)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"


def test_a_stream_cut_midway_ends_with_an_error_event(sample_index):
    def chunk(text):
        return {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        }

    with RecordingServer(lambda request: (200, StreamScript([chunk("The frame "), chunk("has a")], cut=True))) as up:
        models = [{"alias": "remote", "provider": "openai", "model": "m", "endpoint": f"{up.url}/v1", "max_retries": 0}]
        with running_in_background(env={"LLM_MODELS": json.dumps(models), "LLM_DEFAULT_ALIAS": "remote"}) as base:
            body = {"question": "Frame warranty?", "stream": True}
            with httpx.stream("POST", f"{base}{URL}", json=body, timeout=60) as response:
                events = read_events(response)

    assert [name for name, _ in events] == ["accepted", "sources", "delta", "delta", "error"]
    last = events[-1][1]
    assert last["errors"][0]["stage"] == "generation"
    assert last["response_metadata"]["errors_present"] is True
    assert up.requests[0].body["stream"] is True


class HeldRetriever:
    """The app's retriever, held until the test releases it: a slow search, scripted."""

    def __init__(self, inner):
        self.index_name = inner.index_name
        self.inner = inner
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def search(self, question, spec, identity=None):
        self.started.set()
        await self.release.wait()
        return await self.inner.search(question, spec, identity)


@pytest.mark.parametrize(
    ("url", "body", "first"),
    [
        (URL, {"question": "Frame warranty?", "stream": True}, b"event: accepted"),
        (
            "/api/v1/chat/completions",
            {"model": "smollm2", "messages": [{"role": "user", "content": "Frame warranty?"}], "stream": True},
            b"data: ",
        ),
        ("/api/v1/responses", {"input": "Frame warranty?", "stream": True}, b"event: response.created"),
    ],
)
async def test_a_stream_sends_its_first_bytes_before_retrieval_ends(
    asgi_app, sample_index, monkeypatch, url, body, first
):
    """The headers and a first event reach the server's socket while the search is still running."""
    from shared import backends
    from tests.support import json_post_scope, make_orchestrator

    held = HeldRetriever(backends.retriever())
    monkeypatch.setattr(backends, "orchestrator", lambda: make_orchestrator(retriever=lambda plan: held))
    sent: list[dict] = []
    first_body, ended = asyncio.Event(), asyncio.Event()

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body":
            (first_body if message.get("more_body") else ended).set()

    requested, finished = asyncio.Event(), asyncio.Event()

    async def receive():
        if not requested.is_set():
            requested.set()
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await finished.wait()  # the client stays connected until the answer has ended
        return {"type": "http.disconnect"}

    scope = json_post_scope(url)
    request = asyncio.create_task(asgi_app(scope, receive, send))
    await asyncio.wait_for(held.started.wait(), 60)
    await asyncio.wait_for(first_body.wait(), 60)  # the search has not returned: it is held

    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200 and (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert next(m["body"] for m in sent if m.get("body")).startswith(first)
    held.release.set()
    await asyncio.wait_for(ended.wait(), 120)  # the stream then runs to its end
    finished.set()
    await asyncio.wait_for(request, 60)
