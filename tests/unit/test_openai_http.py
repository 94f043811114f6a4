"""The remote models' HTTP exchanges (shared/llm/openai_http.py), by the requests a local server
records: the URLs, auth and bodies the openai SDK would send, replies read once, streams read as
they come, the SDK's retries, and timeouts and refused connections as failed calls."""

from __future__ import annotations

import email.utils
import gzip
import json
import socket
import threading
import time

import pytest
from starlette.responses import Response

from devtools.servers import free_port
from shared.llm import openai_http
from shared.llm.openai_http import ModelCallFailed, OpenAIEndpoint, retry_delay, should_retry
from shared.remote_models import RemoteModel
from tests.recording_server import RawReply, RecordingServer, StreamScript
from tests.silent_server import SilentServer

COMPLETION = {"choices": [{"index": 0, "message": {"content": "Ten years."}, "finish_reason": "stop"}]}
BODY = {"model": "m", "messages": [{"role": "user", "content": "Frame warranty?"}]}


def endpoint(url: str, **fields) -> OpenAIEndpoint:
    config = {"alias": "a", "provider": "openai", "model": "m", "endpoint": f"{url}/v1", "max_retries": 0, **fields}
    return OpenAIEndpoint(RemoteModel(**config))


class WithHeaders(RecordingServer):
    """Replies carry the headers the responder returns third: (status, payload, headers)."""

    async def _handle(self, request):
        response = await super()._handle(request)
        response.headers.update(self.extra_headers.pop(0) if self.extra_headers else {})
        return response

    extra_headers: list[dict[str, str]] = []


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """Retries without the backoff's half second: the schedule itself is tested on its own."""
    delays: list[tuple[int, str | None]] = []

    def recorded(attempt, headers=None):
        delays.append((attempt, (headers or {}).get("retry-after")))
        return 0.0

    monkeypatch.setattr(openai_http, "retry_delay", recorded)
    return delays


async def test_the_request_and_reply_of_an_openai_compatible_server():
    with RecordingServer(lambda request: (200, COMPLETION)) as server:
        model = endpoint(server.url, api_key="test-openai-key")
        for _ in range(2):  # the second on the kept connection
            assert await model.post("/chat/completions", BODY) == COMPLETION
        await model.aclose()
    sent = server.requests[-1]
    assert (sent.method, sent.path, sent.query, sent.body) == ("POST", "/v1/chat/completions", {}, BODY)
    assert sent.headers["authorization"] == "Bearer test-openai-key"
    assert sent.headers["content-type"] == "application/json"


async def test_azure_openai_deployment_url_api_version_and_key_or_entra_token():
    with RecordingServer(lambda request: (200, COMPLETION)) as server:
        azure = {"provider": "azure_openai", "endpoint": server.url, "model": "gpt-4o-mini"}
        azure["api_version"] = "2024-10-21"
        keyed = endpoint(server.url, **azure, api_key="test-azure-key")
        await keyed.post("/chat/completions", BODY)
        await keyed.get("/models")

        async def token() -> str:
            return "entra-token"

        signed_in = OpenAIEndpoint(RemoteModel(alias="a", max_retries=0, **azure), token=token)
        await signed_in.post("/chat/completions", BODY)
        await keyed.aclose()
        await signed_in.aclose()
    deployment, models, entra = server.requests
    assert deployment.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert models.path == "/openai/models" and models.method == "GET"
    assert {r.query["api-version"] for r in server.requests} == {"2024-10-21"}
    assert deployment.headers["api-key"] == "test-azure-key" and "authorization" not in deployment.headers
    assert entra.headers["authorization"] == "Bearer entra-token" and "api-key" not in entra.headers


async def test_a_compressed_reply_is_decoded():
    class Gzipped(RecordingServer):
        async def _handle(self, request):
            await request.body()
            body = gzip.compress(json.dumps(COMPLETION).encode())
            return Response(body, media_type="application/json", headers={"content-encoding": "gzip"})

    with Gzipped(lambda request: (200, None)) as server:
        model = endpoint(server.url)
        assert await model.post("/chat/completions", {}) == COMPLETION
        await model.aclose()


async def test_a_cookie_the_server_sets_is_sent_back():
    class SetsCookie(RecordingServer):
        async def _handle(self, request):
            response = await super()._handle(request)
            response.set_cookie("affinity", "node-1")
            return response

    with SetsCookie(lambda request: (200, COMPLETION)) as server:
        model = endpoint(server.url)
        for _ in range(2):
            await model.post("/chat/completions", {})
        await model.aclose()
    assert "cookie" not in server.requests[0].headers
    assert server.requests[1].headers["cookie"] == "affinity=node-1"


async def test_a_stream_comes_event_by_event_and_can_be_left_early():
    chunks = [{"choices": [{"index": 0, "delta": {"content": word}}]} for word in ("Ten", " years", ".")]
    with RecordingServer(lambda request: (200, StreamScript(chunks))) as server:
        model = endpoint(server.url)
        assert [chunk async for chunk in model.events("/chat/completions", BODY)] == chunks
        left = model.events("/chat/completions", BODY)
        assert await anext(left) == chunks[0]
        await left.aclose()
        assert [chunk async for chunk in model.events("/chat/completions", BODY)] == chunks
        await model.aclose()
    assert server.requests[0].headers["accept"] == "text/event-stream"


async def test_a_reply_that_is_not_json_or_an_error_event_fails_the_call():
    error_event = StreamScript([{"error": {"message": "overloaded"}}])
    replies = iter([(200, RawReply("<html>not json</html>")), (200, error_event)])
    with RecordingServer(lambda request: next(replies)) as server:
        model = endpoint(server.url)
        with pytest.raises(ModelCallFailed, match="not JSON"):
            await model.post("/chat/completions", BODY)
        with pytest.raises(ModelCallFailed, match="error event"):
            [chunk async for chunk in model.events("/chat/completions", BODY)]
        await model.aclose()


async def test_a_silent_server_is_a_timeout_and_a_closed_port_no_connection():
    with SilentServer() as silent:
        model = endpoint(f"http://127.0.0.1:{silent.port}", timeout_seconds=0.2)
        with pytest.raises(ModelCallFailed) as timed_out:
            await model.post("/chat/completions", {})
        await model.aclose()
    assert timed_out.value.what == "timeout"
    model = endpoint(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ModelCallFailed) as refused:
        await model.post("/chat/completions", {})
    await model.aclose()
    assert refused.value.what == "no connection" and refused.value.status is None


async def test_retries_follow_the_server_up_to_max_retries(no_backoff):
    replies = iter([(429, {}), (503, {}), (200, COMPLETION), (500, {}), (500, {}), (500, {}), (400, {})])
    WithHeaders.extra_headers = [{"retry-after": "2"}]
    with WithHeaders(lambda request: next(replies)) as server:
        model = endpoint(server.url, max_retries=2)
        assert await model.post("/chat/completions", BODY) == COMPLETION  # a 429 and a 503, then the answer
        with pytest.raises(ModelCallFailed) as failed:  # three 500s: the retries are spent
            await model.post("/chat/completions", BODY)
        with pytest.raises(ModelCallFailed) as refused:  # a 400 is the request's fault: not retried
            await model.post("/chat/completions", BODY)
        await model.aclose()
    assert (failed.value.status, failed.value.what, refused.value.status) == (500, "HTTP 500", 400)
    assert len(server.requests) == 7
    assert no_backoff == [(0, "2"), (1, None), (0, None), (1, None)]  # the 429's Retry-After was passed on


async def test_refused_connections_are_retried(no_backoff):
    model = endpoint(f"http://127.0.0.1:{free_port()}", max_retries=2)
    with pytest.raises(ModelCallFailed, match="no connection"):
        await model.post("/chat/completions", {})
    await model.aclose()
    assert [attempt for attempt, _ in no_backoff] == [0, 1]


def test_the_retry_schedule_honors_what_the_server_asks_within_a_minute():
    assert retry_delay(0, {"retry-after-ms": "250"}) == 0.25
    assert retry_delay(3, {"retry-after": "7"}) == 7.0
    in_five_seconds = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3.5 < retry_delay(0, {"retry-after": in_five_seconds}) <= 5.0
    for attempt, ceiling in ((0, 0.5), (1, 1.0), (2, 2.0), (5, 8.0)):  # doubling, at most 8 s, less up to a quarter
        for headers in (None, {"retry-after": "3600"}, {"retry-after": "soon"}):
            assert ceiling * 0.75 <= retry_delay(attempt, headers) <= ceiling


def test_which_replies_are_retried():
    assert [should_retry(s, {}) for s in (400, 401, 404, 408, 409, 422, 429, 500, 503)] == [
        False, False, False, True, True, False, True, True, True
    ]  # fmt: skip
    assert not should_retry(503, {"x-should-retry": "false"})
    assert should_retry(400, {"x-should-retry": "true"})


async def test_an_environment_proxy_is_used_unless_no_proxy_exempts_the_host(monkeypatch):
    with RecordingServer(lambda request: (200, COMPLETION)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        model = endpoint("http://model.invalid:8000")  # reachable through the proxy alone
        assert await model.post("/chat/completions", BODY) == COMPLETION
        await model.aclose()
        monkeypatch.setenv("NO_PROXY", "model.invalid")
        exempt = endpoint("http://model.invalid:8000")
        with pytest.raises(ModelCallFailed, match="no connection"):
            await exempt.post("/chat/completions", BODY)
        await exempt.aclose()
    [through] = proxy.requests
    assert (through.path, through.headers["host"]) == ("/v1/chat/completions", "model.invalid:8000")
    assert through.headers["proxy-authorization"] == "Basic dXNlcjpwQHNz"  # user:p@ss


async def test_a_reply_cut_off_while_read_is_retried(no_backoff):
    replies = [
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"choices": [',
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
    ]
    whole = json.dumps(COMPLETION).encode()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for reply in replies:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(reply % (len(whole), whole) if b"%d" in reply else reply)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    model = endpoint(f"http://127.0.0.1:{listener.getsockname()[1]}", max_retries=1)
    try:
        assert await model.post("/chat/completions", BODY) == COMPLETION
    finally:
        await model.aclose()
        listener.close()
    assert [attempt for attempt, _ in no_backoff] == [0]
