"""What tests/integration/test_functions_worker.py compares, and the scripted services both servers use.

`exchange` sends one request to the local server and through the worker (the test host);
`assert_same` says whether the two answers agree: status, the headers that matter, and the
body once the values that differ between any two runs (ids, clocks, durations) are set aside,
stream events compared one by one in order.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.openai_scripted_model import reply as scripted_reply
from tests.recording_server import StreamScript
from tests.support import sse_events

# The function key the test host checks. Not one of conftest's secrets: the tests' own client
# sends it in a query string (`code`), which httpx logs.
KEY = "worker-host-key"
DIMENSIONS = 64
EMBEDDING_DEPLOYMENT = "emb"
GATED_MODEL = "gated"  # a model that holds its stream until the client has seen the first delta

# Values that differ between two runs of the same request: ids, clocks, durations.
VOLATILE_KEYS = {
    "response_id",
    "created",
    "created_at",
    "updated_at",
    "completed_at",
    "timestamp",
    "processing_time",
    "timings",
    "total_time_ms",
    "retrieval_time_ms",
    "generation_time_ms",
    "item_id",
}


def embed(text: str) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words are near, as a real embedder's are."""
    vector = np.zeros(DIMENSIONS)
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,;:!?()[]\"'").encode()).digest()
        vector[digest[0] % DIMENSIONS] += 1.0
    vector[0] += 1e-3  # never the zero vector
    return (vector / np.linalg.norm(vector)).tolist()


class Scripted:
    """The model (tests/openai_scripted_model.py) and the embedding deployment, on one server."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self, request) -> tuple[int, Any]:
        if request.path.endswith("/embeddings"):
            inputs = request.body["input"]
            data = [{"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(inputs)]
            return 200, {"object": "list", "data": data, "model": EMBEDDING_DEPLOYMENT, "usage": _usage()}
        if request.body["model"] == GATED_MODEL:
            return 200, _gated(self.gate)
        return scripted_reply(request)


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 1, "total_tokens": 1}


def _gated(gate: threading.Event) -> StreamScript:
    chunk = {"id": "g", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    first = {
        **chunk,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Ten"}, "finish_reason": None}],
    }
    rest = {**chunk, "choices": [{"index": 0, "delta": {"content": " years [1]."}, "finish_reason": "stop"}]}
    return StreamScript([first, rest], gate=gate)


@dataclass(frozen=True)
class Pair:
    local: str
    worker: str
    worker_output: Path  # what the worker process wrote (its stdout and stderr), as the host collects it

    def each(self) -> tuple[tuple[str, str], ...]:
        return (("local server", self.local), ("worker", self.worker))


def assert_equal(worker: Any, local: Any) -> None:
    """Equal once normalized; else a diff of the two, worker (+) against local server (-)."""
    ours, theirs = normalized(worker), normalized(local)
    if ours != theirs:
        lines = [json.dumps(v, indent=1, sort_keys=True, default=str).splitlines() for v in (theirs, ours)]
        diff = difflib.unified_diff(*lines, "local server", "worker", lineterm="", n=2)
        pytest.fail("the worker's answer differs from the local server's:\n" + "\n".join(list(diff)[:80]))


# Ids made per answer (chatcmpl-…, resp_…, msg_…, uuids); the ids of sources are compared.
GENERATED_ID = re.compile(r"(chatcmpl-|resp_|msg_)[0-9a-f]+|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")


def _varies(key: str, value: Any) -> bool:
    generated = key == "id" and isinstance(value, str) and GENERATED_ID.fullmatch(value)
    return value is not None and (key in VOLATILE_KEYS or bool(generated))


def normalized(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<varies>" if _varies(k, v) else normalized(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalized(v) for v in value]
    return value


COMPARED_HEADERS = (
    "content-type",
    "cache-control",
    "content-security-policy",
    "x-content-type-options",
    "x-accel-buffering",
    "www-authenticate",
    "x-session-id",
)


def exchange(servers: Pair, method: str, path: str, *, key: bool = True, **kwargs: Any) -> list[httpx.Response]:
    """The same request to the local server and through the worker; their responses, read whole."""
    headers = {**({"x-functions-key": KEY} if key else {}), **kwargs.pop("headers", {})}
    body = kwargs.pop("content", None)  # a callable makes a new (streamed) body for each request
    with httpx.Client(timeout=60) as client:
        return [
            client.request(method, base + path, headers=headers, content=body() if callable(body) else body, **kwargs)
            for _, base in servers.each()
        ]


def assert_same(local: httpx.Response, worker: httpx.Response) -> Any:
    """The two answers agree; returns the local one's body (JSON, events or bytes) for further checks."""
    assert worker.status_code == local.status_code, (local.text[:500], worker.text[:500])
    for name in COMPARED_HEADERS:
        assert worker.headers.get(name) == local.headers.get(name), name
    assert ("x-correlation-id" in worker.headers) == ("x-correlation-id" in local.headers)  # both ran the function
    media = local.headers.get("content-type", "")
    if media.startswith("text/event-stream"):
        events = [sse_events(r.text.splitlines()) for r in (local, worker)]
        assert_equal(events[1], events[0])
        return events[0]
    if media.startswith("application/json"):
        assert_equal(worker.json(), local.json())
        return local.json()
    assert worker.content == local.content
    return local.content


def same(servers: Pair, method: str, path: str, **kwargs: Any) -> Any:
    return assert_same(*exchange(servers, method, path, **kwargs))


@contextlib.contextmanager
def openai_clients(servers: Pair) -> Iterator[list[Any]]:
    """The openai SDK on each server's /api/v1, with the function key."""
    import openai

    clients = [
        openai.OpenAI(
            base_url=f"{base}/api/v1", api_key="unused", default_headers={"x-functions-key": KEY}, max_retries=0
        )
        for _, base in servers.each()
    ]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def host_status(servers: Pair) -> dict[str, Any]:
    return httpx.get(f"{servers.worker}/admin/host/status", timeout=90).json()  # waits for invocations in flight


def without(body: Any, *values: str) -> Any:
    """The body with each side's own random values (a document's id) replaced."""
    text = json.dumps(body)
    for value in values:
        text = text.replace(value, "<own>")
    return json.loads(text)


def chunk_ids(answer: dict[str, Any], document_id: str) -> list[str]:
    return [m["id"].rsplit("-", 1)[0] for m in answer["metadata"] if document_id in m["filename"]]


def wait_until(condition, what: str) -> None:
    """Waits for a state, not a duration: the bound only ends a test that would never pass."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def run_function(servers: Pair, function: str, given: str) -> None:
    """The host runs a function of another trigger, as Event Grid's delivery makes it do on Azure."""
    ran = httpx.post(
        f"{servers.worker}/admin/functions/{function}",
        json={"input": given},
        headers={"x-functions-key": KEY},
        timeout=60,
    )
    assert ran.status_code == 202, ran.text
    host_status(servers)  # answers once the invocation is done
