"""A zero-latency OpenAI-compatible chat model for load tests: every request is answered at
once, as one chat.completion or, when it streams, as chunks and `data: [DONE]`.

    .venv/bin/python -m uvicorn --app-dir bench zero_model:app --host 127.0.0.1 --port 8001

A bare ASGI app, so that the model's own cost stays far below the product's.
"""

from __future__ import annotations

import json

ANSWER = "The Zephyr frame has a 10-year warranty [1]."
USAGE = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}
_HEAD = {"id": "zero", "created": 1, "model": "zero"}


def _chunk(delta: dict | None, finish: str | None = None, **extra) -> bytes:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta is not None else []
    event = {**_HEAD, "object": "chat.completion.chunk", "choices": choices, **extra}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


COMPLETION = json.dumps(
    {
        **_HEAD,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
).encode()
STREAM = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": ANSWER}),
    _chunk({}, "stop"),
    _chunk(None, usage=USAGE),
    b"data: [DONE]\n\n",
]


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    streams = bool(body) and bool(json.loads(body).get("stream"))
    kind = b"text/event-stream" if streams else b"application/json"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
    if not streams:
        await send({"type": "http.response.body", "body": COMPLETION})
        return
    for piece in STREAM:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
