"""A local HTTP server that records every request and answers from a test's handler.

For services without a local stand-in (Azure AI Search, Azure OpenAI): the real SDK talks
to it over HTTP, and the test asserts on the exact requests it sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from devtools.servers import free_port


@dataclass
class StreamScript:
    """An answer sent as Server-Sent Events, piece by piece; `cut` drops the connection after them.
    A string event is sent as it is (`data: <html>`): a server whose stream breaks. With a `gate`,
    the events after the first wait until the test opens it; after 30 s the stream breaks instead."""

    events: list[dict[str, Any] | str]
    cut: bool = False
    gate: threading.Event | None = None


@dataclass
class RawReply:
    """A body that is not JSON, e.g. a proxy's HTML error page answered with 200."""

    body: str
    media_type: str = "text/html"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


Responder = Callable[[RecordedRequest], tuple[int, Any]]


class RecordingServer:
    def __init__(self, respond: Responder) -> None:
        self.requests: list[RecordedRequest] = []
        self.respond = respond
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT", "DELETE"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=json.loads(raw) if raw else None,
        )
        self.requests.append(recorded)
        status, payload = self.respond(recorded)
        if isinstance(payload, StreamScript):
            return StreamingResponse(self._stream(payload), status_code=status, media_type="text/event-stream")
        if isinstance(payload, RawReply):
            return Response(payload.body, status_code=status, media_type=payload.media_type)
        return JSONResponse(payload, status_code=status) if payload is not None else Response(status_code=status)

    @staticmethod
    async def _stream(script: StreamScript):
        for n, event in enumerate(script.events):
            if n == 1 and script.gate is not None and not await asyncio.to_thread(script.gate.wait, 30):
                raise ConnectionResetError("the test never opened the gate")  # the stream breaks
            yield f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n"
        if script.cut:
            raise ConnectionResetError("stream cut by the test")  # uvicorn drops the connection
        yield "data: [DONE]\n\n"

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the recording server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
