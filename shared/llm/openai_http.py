"""The remote chat models' HTTP exchanges over the OpenAI protocol, sent with aiohttp.

A chat completion is one JSON POST, or one server-sent event stream. This module sends it as the
openai SDK would: to the same URL (Azure OpenAI's deployment path and api-version, or the base
URL of any compatible server), with the same auth (Azure's `api-key`, a bearer key, or an Entra
ID token for managed identity), the same retries (refused connections, timeouts, 408, 409, 429
and 5xx; the server's Retry-After honored, else exponential backoff with jitter) and a timeout
on each wait. It does not go through the SDK: the SDK's per-call layer (typed request options,
httpx's request and response objects, header merging) cost 0.8-0.9 ms of CPU per call on the
benchmark's VM against 0.35 ms here, about a seventh of a whole answer's CPU (issue 31,
docs/performance.md "The model call without the SDK"). The SDK still embeds documents
(shared/embeddings/azure_openai.py) and is what the tests' clients call the product with.

A session belongs to the event loop it was made on: it is made on the first request, on that
request's loop (the warm-up thread builds the model outside any loop), and made again if a
request comes on another loop. One no longer used is closed on its own loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import random
import threading
import time
import urllib.request
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import aiohttp
from pydantic_core import from_json, to_json

from shared.openai_clients import entra_token_provider
from shared.remote_models import RemoteModel

MAX_SERVER_DELAY = 60.0  # seconds of Retry-After honored; a longer one gets the backoff instead
_closing: set[asyncio.Future[Any]] = set()  # closes under way on a running loop, kept until done


class ModelCallFailed(Exception):
    """No usable reply: `what` says why in a few words ("HTTP 500", "timeout", ...), for the log."""

    def __init__(self, what: str, status: int | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.status = status


class UnreadableReply(ModelCallFailed):
    """A reply came, but not as JSON (a proxy's HTML error page answered with 200, a broken stream)."""


def retry_delay(attempt: int, headers: Mapping[str, str] | None = None) -> float:
    """Seconds before retry number `attempt` (0 for the first): what the server asked for in
    retry-after-ms or Retry-After (seconds or an HTTP date) when it is a sane wait, else
    0.5 s doubling per attempt up to 8 s, less up to a quarter at random (the SDK's schedule)."""
    asked = _server_delay(headers or {})
    if asked is not None and 0 <= asked <= MAX_SERVER_DELAY:
        return asked
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not a secret


def _server_delay(headers: Mapping[str, str]) -> float | None:
    with contextlib.suppress(ValueError):
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return float(value)
    date = email.utils.parsedate_tz(value)
    return email.utils.mktime_tz(date) - time.time() if date else None


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """The server's x-should-retry when it says; else 408, 409, 429 and every 5xx."""
    explicit = headers.get("x-should-retry")
    if explicit in ("true", "false"):
        return explicit == "true"
    return status in (408, 409, 429) or status >= 500


class OpenAIEndpoint:
    """One remote model's server: its URLs, auth headers, retries and aiohttp session."""

    def __init__(self, config: RemoteModel, token: Callable[[], Awaitable[str]] | None = None) -> None:
        key = config.api_key.get_secret_value() if config.api_key else None
        if config.provider == "azure_openai":
            self._base = f"{config.endpoint.rstrip('/')}/openai"
            self._query = "?" + urlencode({"api-version": config.api_version})
            self._deployment = f"/deployments/{quote(config.model, safe='')}"
            self._headers = {"api-key": key} if key else {}
            self._token = None if key else token or entra_token_provider()
        else:
            self._base = config.endpoint.rstrip("/")
            self._query = ""
            self._deployment = ""
            self._headers = {"Authorization": f"Bearer {key or 'unused'}"}  # local servers accept any key
            self._token = None
        self._max_retries = config.max_retries
        seconds = config.timeout_seconds
        # Each wait bounded, as the SDK bounds them; a stream that keeps coming may take longer in all.
        self._timeout = aiohttp.ClientTimeout(connect=seconds, sock_connect=seconds, sock_read=seconds)
        self._via_proxy = _environment_proxy(self._base)
        if not self._base.startswith("https:"):  # no tunnel: the proxy reads the request's own headers
            self._headers.update(self._via_proxy.pop("proxy_headers", {}))
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._close_session: weakref.finalize | None = None

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON reply to a POST to a model's endpoint (Azure: under its deployment)."""
        async with self._exchange("POST", self._deployment + path, body, stream=False) as response:
            return _parsed(await response.read())  # read already, within the retries

    async def get(self, path: str) -> Any:
        async with self._exchange("GET", path, None, stream=False) as response:
            return _parsed(await response.read())

    async def events(self, path: str, body: dict[str, Any]) -> AsyncGenerator[Any]:
        """Each server-sent event's JSON data, as it comes, up to `[DONE]`."""
        async with self._exchange("POST", self._deployment + path, body, stream=True) as response:
            async for data in _event_data(response.content):
                if data == "[DONE]":
                    return
                event = _parsed(data)
                if isinstance(event, dict) and event.get("error"):
                    raise ModelCallFailed("an error event in the stream")
                yield event

    @contextlib.asynccontextmanager
    async def _exchange(
        self, method: str, path: str, body: dict[str, Any] | None, *, stream: bool
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A successful response, after the retries the failures before it allowed; released after use."""
        session, url = self._session_here(), self._base + path + self._query
        data = None if body is None else to_json(body)
        for attempt in range(self._max_retries + 1):
            retries_left = attempt < self._max_retries
            headers = await self._request_headers(stream, has_body=data is not None)
            try:
                response = await session.request(
                    method, url, data=data, headers=headers, timeout=self._timeout, **self._via_proxy
                )
                if not stream and response.status < 400:
                    await response.read()  # kept by the response: a reply cut off while read is retried too
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not retries_left:
                    raise _unreachable(exc) from exc
                await asyncio.sleep(retry_delay(attempt))
                continue
            if response.status < 400:
                async with response:
                    with _read_errors():
                        yield response
                return
            response.release()
            if not (retries_left and should_retry(response.status, response.headers)):
                raise ModelCallFailed(f"HTTP {response.status}", response.status)
            await asyncio.sleep(retry_delay(attempt, response.headers))

    async def _request_headers(self, stream: bool, *, has_body: bool) -> dict[str, str]:
        headers = {**self._headers, "Accept": "text/event-stream" if stream else "application/json"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self._token is not None:
            headers["Authorization"] = f"Bearer {await self._token()}"
        return headers

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            if self._close_session is not None:
                self._close_session()
            # One upstream: every connection kept alive for the next request. Cookies a server sets
            # (an affinity cookie) are sent back, whether it is named by host or by address.
            connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))
            self._loop = loop
            # Closed when this endpoint is collected, or at exit if it never is: no "unclosed session" warnings.
            self._close_session = weakref.finalize(self, _close, self._session, loop)
        return self._session

    async def aclose(self) -> None:
        if self._close_session is not None:
            self._close_session.detach()
            self._close_session = None
        if self._session is not None:
            await self._session.close()
            self._session = None


def _environment_proxy(url: str) -> dict[str, Any]:
    """aiohttp's arguments for the proxy HTTP(S)_PROXY names for `url` (none when NO_PROXY exempts
    its host), as the SDK's httpx honored them; read once, where aiohttp's trust_env would read
    them, and .netrc, in a thread per request."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return {}
    proxy_parts = urlsplit(proxy)
    if not proxy_parts.username:
        return {"proxy": proxy}
    credentials = f"{unquote(proxy_parts.username)}:{unquote(proxy_parts.password or '')}".encode()
    return {
        "proxy": proxy_parts._replace(netloc=proxy_parts.netloc.rpartition("@")[2]).geturl(),
        "proxy_headers": {"Proxy-Authorization": f"Basic {base64.b64encode(credentials).decode()}"},
    }


def _parsed(data: bytes | str) -> Any:
    try:
        return from_json(data)
    except ValueError:
        raise UnreadableReply("a reply that is not JSON") from None


async def _event_data(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The data of each server-sent event (its `data:` lines joined), as each event ends."""
    lines: list[str] = []
    async for raw in content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
    if lines:
        yield "\n".join(lines)


def _unreachable(exc: BaseException) -> ModelCallFailed:
    if isinstance(exc, TimeoutError):
        return ModelCallFailed("timeout")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ModelCallFailed("no connection")
    return ModelCallFailed(f"connection failed ({type(exc).__name__})")


@contextlib.contextmanager
def _read_errors() -> Iterator[None]:
    """A reply cut off or stalled while being read: a failed call, like one never answered."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _unreachable(exc) from exc


def _close(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
    """Close a session no request will use again, on its own loop wherever that loop is now."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        task = loop.create_task(session.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    elif loop.is_running():
        asyncio.run_coroutine_threadsafe(session.close(), loop)
    elif running is None:
        _close_idle(session, loop)
    else:  # another loop runs in this thread: the session's own is run in a thread of its own
        threading.Thread(target=_close_idle, args=(session, loop), daemon=True).start()


def _close_idle(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed():
        loop.run_until_complete(session.close())
        return
    # Its connections went with their loop: only the session's own state is left to close.
    with contextlib.closing(asyncio.new_event_loop()) as spare:
        spare.run_until_complete(session.close())
