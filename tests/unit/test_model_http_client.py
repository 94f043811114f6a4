"""The remote models' HTTP client (shared/llm/http_client.py): what the openai SDK sees through it
is what it saw through httpx's own: the same request, a decoded body, a stream read as it
comes, cookies kept, and timeouts and refused connections as the SDK's own errors."""

from __future__ import annotations

import gzip
import json

import openai
import pytest
from starlette.responses import Response

from devtools.servers import free_port
from shared.llm.http_client import model_http_client
from tests.recording_server import RecordingServer, StreamScript
from tests.silent_server import SilentServer

COMPLETION = {"choices": [{"index": 0, "message": {"content": "Ten years."}, "finish_reason": "stop"}]}


def sdk(url: str, *, timeout: float = 30) -> openai.AsyncOpenAI:
    http = model_http_client(timeout)
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="test-openai-key", max_retries=0, http_client=http)


async def streamed(client: openai.AsyncOpenAI) -> openai.AsyncStream[object]:
    return await client.post(
        "/chat/completions", body={"stream": True}, cast_to=object, stream=True, stream_cls=openai.AsyncStream[object]
    )


async def test_the_request_and_the_reply_are_those_httpx_would_send_and_read():
    with RecordingServer(lambda request: (200, COMPLETION)) as server:
        async with sdk(server.url) as client:
            body = {"model": "m", "messages": [{"role": "user", "content": "Frame warranty?"}]}
            for _ in range(2):  # the second on the kept connection
                reply = await client.post("/chat/completions", body=body, cast_to=object)
                assert reply == COMPLETION
    sent = server.requests[-1]
    assert (sent.method, sent.path, sent.body) == ("POST", "/v1/chat/completions", body)
    assert sent.headers["authorization"] == "Bearer test-openai-key"
    assert sent.headers["content-type"] == "application/json"


async def test_a_compressed_body_is_decoded_once():
    class Gzipped(RecordingServer):
        async def _handle(self, request):
            await request.body()
            body = gzip.compress(json.dumps(COMPLETION).encode())
            return Response(body, media_type="application/json", headers={"content-encoding": "gzip"})

    with Gzipped(lambda request: (200, None)) as server:
        async with sdk(server.url) as client:
            assert await client.post("/chat/completions", body={}, cast_to=object) == COMPLETION


async def test_a_cookie_the_server_sets_is_sent_back():
    class SetsCookie(RecordingServer):
        async def _handle(self, request):
            response = await super()._handle(request)
            response.set_cookie("affinity", "node-1")
            return response

    with SetsCookie(lambda request: (200, COMPLETION)) as server:
        async with sdk(server.url) as client:
            for _ in range(2):
                await client.post("/chat/completions", body={}, cast_to=object)
    assert "cookie" not in server.requests[0].headers
    assert server.requests[1].headers["cookie"] == "affinity=node-1"


async def test_a_stream_comes_chunk_by_chunk_and_can_be_left_early():
    chunks = [{"choices": [{"index": 0, "delta": {"content": word}}]} for word in ("Ten", " years", ".")]
    with RecordingServer(lambda request: (200, StreamScript(chunks))) as server:
        async with sdk(server.url) as client:
            stream = await streamed(client)
            assert [chunk async for chunk in stream] == chunks
            left = await streamed(client)
            assert await anext(aiter(left)) == chunks[0]
            await left.close()
            assert await client.post("/chat/completions", body={}, cast_to=object) is not None


async def test_a_silent_server_is_a_timeout_and_a_closed_port_a_connection_error():
    with SilentServer() as silent:
        async with sdk(f"http://127.0.0.1:{silent.port}", timeout=0.2) as client:
            with pytest.raises(openai.APITimeoutError):
                await client.post("/chat/completions", body={}, cast_to=object)
    async with sdk(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(openai.APIConnectionError) as refused:
            await client.post("/chat/completions", body={}, cast_to=object)
        assert not isinstance(refused.value, openai.APITimeoutError)
