"""Server-Sent Events from /api/v2/flexible-rag: order, content, refusals, and failures mid-stream."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.recording_server import RecordingServer, StreamScript
from tests.servers import running_in_background
from tests.support import sse_events

URL = "/api/v2/flexible-rag"


def read_events(response: httpx.Response) -> list[tuple[str, dict]]:
    return sse_events(response.iter_lines())


@pytest.fixture(scope="module")
def server(sample_index):
    with running_in_background() as base_url:
        yield base_url


def test_stream_sends_sources_then_deltas_then_the_final_response(server):
    question = {
        "question": "How long does a full charge take?",
        "stream": True,
        "override_config": {"params": {"max_tokens": 24, "seed": 1}},
    }
    with httpx.stream("POST", f"{server}{URL}", json=question, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)

    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "final"
    assert set(names[1:-1]) == {"delta"} and len(names) > 4  # the answer arrives in pieces
    final = events[-1][1]
    assert events[0][1]["metadata"] == final["metadata"] and final["metadata"]
    assert "".join(data["text"] for name, data in events if name == "delta").strip() == final["answer"]
    non_streaming = httpx.post(f"{server}{URL}", json={**question, "stream": False}, timeout=60).json()
    assert set(final) == set(non_streaming)
    assert final["answer"] == non_streaming["answer"]  # same seed, same model: the same answer


def test_accept_header_asks_for_a_stream_too(server):
    headers = {"accept": "text/event-stream"}
    body = {"question": "Hi", "skip_knowledge_base": True, "override_config": {"params": {"max_tokens": 4}}}
    with httpx.stream("POST", f"{server}{URL}", json=body, headers=headers, timeout=60) as response:
        events = read_events(response)

    assert events[0][0] == "delta" and events[-1][0] == "final"  # no search, so no sources event


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

    assert [name for name, _ in events] == ["sources", "delta", "delta", "error"]
    last = events[-1][1]
    assert last["errors"][0]["stage"] == "generation"
    assert last["response_metadata"]["errors_present"] is True
    assert up.requests[0].body["stream"] is True
