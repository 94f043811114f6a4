"""Every HTTP endpoint is declared once, with `@api.operation(...)`.

A declaration names the route, the method, the request and response models, the summary,
whether it streams, and whether it is public; from it come both the Azure Function (the
Blueprint that function_app registers) and the operation in the OpenAPI document.

Every handler has one shape: it takes a `Call[Body, Query, Path]` (the request with its body,
query and path already validated as declared; the annotation names their models, so a type
checker and go-to-definition reach them) and returns the answer: a pydantic model (JSON), a `Reply`
(JSON with headers), an `EventStream` (Server-Sent Events), None (204), or a ready
`Response` (a page). It raises to refuse; shared.http.errors maps every failure to its
status, here, once.

Models are named by their place under shared.wire ("sessions.SessionsQuery") and imported
on a function's first call: importing function_app (the host's cold start) pays only for
the declarations.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeAlias

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response, StreamingResponse
from pydantic import BaseModel
from typing_extensions import TypeVar

from shared import fair_share
from shared.config import declared_auth_level, get_settings
from shared.core.errors import RequestError
from shared.http import requests
from shared.http.errors import failure, refusal
from shared.identity import Principal

REALM = "rag-chat"
DEFAULT_ERRORS = (400, 422, 500, 503)
CLIENT_GONE = 499  # the status logged for a request whose client left before its answer (nobody receives it)

log = logging.getLogger(__name__)


class ApiFamily(StrEnum):
    """The API families, as the OpenAPI document groups their operations (its tags)."""

    FLEXIBLE = "Flexible chat and RAG"
    DOCUMENTS = "Documents"
    OPENAI = "OpenAI-compatible"
    SESSION_CHAT = "Session chat"
    MULTI_SOURCE = "Multi-source chat"
    MCP = "MCP"
    META = "Meta"
    PAGES = "Pages"


# What a Call holds, as the declaration validated it: None where the operation declares none.
Body = TypeVar("Body", covariant=True, default=None)
Query = TypeVar("Query", covariant=True, default=None)
Path = TypeVar("Path", covariant=True, default=None)


@dataclass(frozen=True)
class Call(Generic[Body, Query, Path]):
    """A request as its handler sees it: validated body, query and path (None where undeclared)."""

    request: Request
    path: Path = None
    query: Query = None
    body: Body = None

    def principal(self, asserted_user_id: str | None = None) -> Principal:
        """Who the request acts as: whose sessions it reaches, whose documents it finds.

        With token validation, the token's identity, whatever the body claims; without, the
        asserted user id only when AUTH_TRUST_ASSERTED_USERS says so; otherwise no identity."""
        caller = getattr(self.request.state, "caller", None)
        principal = Principal.of(
            caller.id if caller is not None else None,
            asserted_user_id,
            trust_asserted=get_settings().auth.trust_asserted_users,
            function_key=requests.function_key(self.request),
        )
        if principal.identity or asserted_user_id:  # the model worker serves callers in turn (shared.fair_share)
            fair_share.caller.set(principal.identity or f"user:{asserted_user_id}")
        return principal

    def wants_stream(self, asked: bool | None) -> bool:
        return bool(asked) or "text/event-stream" in self.request.headers.get("accept", "")


@dataclass(frozen=True)
class Reply:
    """A JSON answer with headers of its own."""

    body: BaseModel
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventStream:
    """A Server-Sent Events answer from ready frames (shared.wire.sse).

    The first frame is produced before the response starts, so a request refused until then
    is still a plain 4xx/5xx answer. After it, a failure ends the stream with the frame
    `failure_frame` makes of its status and ErrorBody: each API says it in its own format."""

    frames: AsyncIterator[str]
    failure_frame: Callable[[int, dict[str, Any]], str]
    headers: dict[str, str] = field(default_factory=dict)


Answer: TypeAlias = BaseModel | Reply | EventStream | Response | None
Handler = Callable[[Call[Any, Any, Any]], Awaitable[Answer]]


@dataclass(frozen=True)
class Operation:
    name: str  # the Azure Function's name and the OpenAPI operationId
    method: str
    route: str  # under the host's route prefix (/api)
    summary: str
    tag: ApiFamily
    handler: Handler
    path: str | None = None  # the models, by their place under shared.wire
    query: str | None = None
    body: str | None = None
    form: str | None = None  # a multipart/form-data body (a file), read by the handler itself
    response: str | None = None  # the 2xx JSON body
    status: int = 200
    streams: bool = False  # 200 may be Server-Sent Events instead
    errors: tuple[int, ...] = DEFAULT_ERRORS
    media_types: tuple[str, ...] = ()  # a page or file (text) rather than a JSON body
    public: bool = False  # no function key, no token: the pages
    reads_body: bool = False  # the handler reads the body itself; `body` only documents it (MCP)
    empty: tuple[int, ...] = ()  # statuses answered without a body (besides 204)
    error_bodies: tuple[tuple[int, str], ...] = ()  # (status, model): errors answered in another shape than ErrorBody
    resource_metadata: str | None = None  # the route of the metadata document a 401's challenge names (RFC 9728)

    def model(self, part: str) -> type[BaseModel] | None:
        ref = getattr(self, part)
        return wire_model(ref) if ref else None


@functools.cache
def wire_model(ref: str) -> type[BaseModel]:
    module, _, name = ref.rpartition(".")
    return getattr(importlib.import_module(f"shared.wire.{module}"), name)


# The methods a function can take that another method on the same path answers with 405 and
# `Allow` (HEAD and OPTIONS are left to the host; it cannot route TRACE or QUERY to a function).
ROUTABLE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Api:
    """The app's operations, and the Blueprint that registers them as Azure Functions."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def operation(
        self, method: str, route: str, summary: str, tag: ApiFamily, **details: Any
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.operations.append(Operation(handler.__name__, method.lower(), route, summary, tag, handler, **details))
            return handler

        return declare

    def allowed(self, route: str) -> list[str]:
        """The methods declared on `route`, as `Allow` lists them."""
        return sorted({op.method.upper() for op in self.operations if op.route == route})

    @functools.cached_property
    def blueprint(self) -> func.Blueprint:
        """One function per operation, built once every operation is declared: the first on each
        path also takes the methods none declares there, to answer them 405 with `Allow`."""
        blueprint = func.Blueprint()
        declared_level = declared_auth_level().upper()
        routes_taken: set[str] = set()
        for op in self.operations:
            methods = [op.method.upper()]
            if op.route not in routes_taken:
                routes_taken.add(op.route)
                methods += [m for m in ROUTABLE_METHODS if m not in self.allowed(op.route)]
            level = func.AuthLevel.ANONYMOUS if op.public else declared_level
            function = blueprint.route(route=op.route, methods=methods, auth_level=level)
            function(blueprint.function_name(op.name)(_azure_function(op, self.allowed(op.route))))
        return blueprint


api = Api()


def _azure_function(op: Operation, allowed: list[str]) -> Callable[[Request], Awaitable[Response]]:
    async def function(req: Request) -> Response:
        from shared import telemetry, warmup

        await warmup.finished()  # a request that comes while the warm-up runs: it builds what the request needs
        telemetry.configure()
        request_id = telemetry.new_correlation_id(req.headers.get(telemetry.CORRELATION_HEADER))
        telemetry.correlation_id.set(request_id)
        req.state.caller = None
        try:
            if req.method != op.method.upper():  # another method on this path (Api.blueprint)
                allow = ", ".join(allowed)
                raise RequestError(f"{req.method} is not allowed here: {allow}", status=405, headers={"Allow": allow})
            if not op.public:
                req.state.caller = await _authenticate(req, op)
            fair_share.caller.set(req.state.caller.id if req.state.caller else f"address:{_address(req)}")
            work = op.handler(await _read(req, op))
            # A handler reading the body itself (MCP) gets the connection to itself.
            answer = await (work if op.reads_body else _while_connected(req, work))
            response = await _response(req, op, answer)
        except _ClientGone:
            log.info("%s: the client left before the answer; its work was cancelled", op.name)
            response = Response(status_code=CLIENT_GONE)
        except Exception as exc:  # noqa: BLE001 - the one place where a failure becomes an answer
            response = refusal(req, exc)
        response.headers[telemetry.CORRELATION_HEADER] = request_id
        return response

    function.__name__ = function.__qualname__ = op.name
    function.__doc__ = op.summary
    return function


class _ClientGone(Exception):
    pass


def _address(req: Request) -> str:
    return req.client.host if req.client else ""


async def _while_connected(req: Request, work: Awaitable[Answer]) -> Answer:
    """The handler's answer; cancelled when the client leaves first, as a stream is: nobody would
    read it, and a model generating it would hold the embedded worker from others."""
    handler = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(req))
    try:
        await asyncio.wait((handler, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not handler.done():
            handler.cancel()
    if not handler.cancelled() and handler.done():
        return handler.result()
    with contextlib.suppress(asyncio.CancelledError):
        await handler
    raise _ClientGone


async def _disconnected(req: Request) -> None:
    """Returns when the client disconnects (the body is read already: the next message says so)."""
    while (await req.receive())["type"] != "http.disconnect":
        pass


async def _read(req: Request, op: Operation) -> Call[Any, Any, Any]:
    path, query, body = (op.model(part) for part in ("path", "query", "body"))
    return Call(
        req,
        path=requests.path_parameters(req, path) if path else None,
        query=requests.query_parameters(req, query) if query else None,
        body=await requests.json_body(req, body) if body and not op.reads_body else None,
    )


async def _authenticate(req: Request, op: Operation) -> Any:
    """The validated caller (AUTH_TOKEN_VALIDATION), else None; RequestError 401/403 with a challenge
    (naming the protected-resource metadata document, where the operation has one)."""
    if not get_settings().auth.token_validation:
        return None
    from shared.auth import AuthError
    from shared.backends import token_validator

    try:
        return await token_validator().caller(req.headers.get("authorization"))
    except AuthError as exc:
        challenge = exc.challenge(REALM)
        if op.resource_metadata:
            challenge += f', resource_metadata="{requests.public_url(req, op.resource_metadata)}"'
        raise RequestError(exc.description, status=exc.status, headers={"WWW-Authenticate": challenge}) from None


async def _response(req: Request, op: Operation, answer: Answer) -> Response:
    if isinstance(answer, Response):
        return answer
    if answer is None:
        return Response(status_code=204)
    if isinstance(answer, EventStream):
        return await _event_stream(req, answer)
    reply = answer if isinstance(answer, Reply) else Reply(answer)
    # pydantic writes the JSON itself: no dict of the body is built and encoded again.
    body = reply.body.model_dump_json()
    return Response(body, status_code=op.status, headers=reply.headers, media_type="application/json")


async def _event_stream(req: Request, stream: EventStream) -> Response:
    first = await anext(stream.frames)  # a failure here is still a plain error answer

    async def body() -> AsyncIterator[str]:
        yield first
        try:
            async for frame in stream.frames:
                yield frame
        except Exception as exc:  # noqa: BLE001 - the stream has started: it ends with an error event
            yield stream.failure_frame(*failure(req, exc))

    # no-cache and no proxy buffering, so that each event reaches the client as it is sent
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no", **stream.headers}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
