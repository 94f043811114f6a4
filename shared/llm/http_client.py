"""The remote chat models' HTTP client: the openai SDK's httpx client, its exchanges sent by aiohttp.

The SDK keeps doing what it does (Azure's deployment URL, auth, retries with Retry-After,
status errors) through httpx's client (its cookies, redirects, proxies from the environment),
and only the exchange itself goes through aiohttp, already installed for the Azure SDKs: httpx's
own transport (httpcore on anyio) cost about 1 ms of CPU per call on the benchmark's VM, aiohttp
about a fifth of that (docs/performance.md, "Per-request cost (item 2)").

A session belongs to the event loop it was made on: it is made on the first request, on that
request's loop (the warm-up thread builds the model's client outside any loop), and made again
if a request comes on another loop. One no longer used is closed on its own loop. (httpx-aiohttp's
transport, which the SDK's DefaultAioHttpClient uses, keeps its first session for good: a client
built once per process would fail on any later loop, as in tests, which run one loop each.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx

_closing: set[asyncio.Future[Any]] = set()  # closes under way on a running loop, kept until done


def model_http_client(timeout: float) -> httpx.AsyncClient:
    """The SDK's own httpx client type, its pool sized for one upstream: connections kept alive
    long enough to be reused between requests that are seconds apart."""
    from openai import DefaultAsyncHttpxClient

    # httpx logs every call at INFO: the turn's own log line says what operators need of it.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=60)
    client = DefaultAsyncHttpxClient(timeout=timeout, limits=limits, transport=AiohttpTransport(limits))
    client._cookies = _SetCookiesOnly()  # the jar httpx reads and writes (its public setter would copy it)
    return client


class _SetCookiesOnly(httpx.Cookies):
    """httpx's cookie jar, reading a response's cookies only when it sets some: httpx builds the
    standard library's views of every request and response for the jar otherwise (a tenth of a
    model call's CPU time). Cookies a server sets are kept and sent back as before."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._ssl = httpx.create_ssl_context()  # what httpx verifies with: certifi, or SSL_CERT_FILE / SSL_CERT_DIR
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._close_session: weakref.finalize | None = None

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            if self._close_session is not None:
                self._close_session()
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry,
                ssl=self._ssl,
            )
            # httpx keeps the cookies and decodes the body: aiohttp passes both through untouched.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
            )
            self._loop = loop
            # Closed when this transport is collected, or at exit if it never is: no "unclosed session" warnings.
            self._close_session = weakref.finalize(self, _close, self._session, loop)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _as_httpx_errors():
            response = await self._session_here().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,  # httpx follows them, as the SDK asks
                timeout=_timeout(timeout.get("pool"), timeout.get("connect"), timeout.get("read")),
            )
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            response.status, headers=response.raw_headers, stream=_Body(response), extensions=extensions
        )

    async def aclose(self) -> None:
        if self._close_session is not None:
            self._close_session.detach()
            self._close_session = None
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._response.content.iter_any():  # each as it arrives: streamed answers
                yield chunk

    async def aclose(self) -> None:
        # Back to the pool when read to its end; closed otherwise (aiohttp knows which).
        self._response.release()


@functools.lru_cache(maxsize=16)
def _timeout(pool: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """httpx's timeouts as aiohttp has them (no total: like httpx, each wait is bounded, not the call)."""
    return aiohttp.ClientTimeout(connect=pool, sock_connect=connect, sock_read=read)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """aiohttp's failures as httpx's: the SDK retries both kinds and reports a timeout as such."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc)) from exc
    except TimeoutError as exc:  # aiohttp's read timeout is one
        raise httpx.ReadTimeout(str(exc)) from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise httpx.ReadError(str(exc)) from exc


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
