"""What every HTTP handler shares: parse the body, call the core, map errors to status codes.

Status codes: 422 for a malformed body or schema violation ({"detail": [{loc, msg, type}]}),
400 for a request the core refuses (unknown field, unsafe template, ...), 500 for anything
unexpected. No response ever carries a stack trace.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeVar

from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from shared.config import get_settings
from shared.core.errors import RequestError, UpstreamError
from shared.identity import Principal
from shared.wire.errors import ErrorBody, ValidationErrorBody

log = logging.getLogger(__name__)

RequestModel = TypeVar("RequestModel", bound=BaseModel)
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Response]])


def validation_detail(exc: ValidationError, source: str) -> list[dict[str, Any]]:
    return [
        {"loc": [source, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]


REALM = "rag-chat"
FUNCTION_KEY_PARAMETER = "code"
FUNCTION_KEY_HEADER = "x-functions-key"


def endpoint(handler: Handler) -> Handler:
    """What every HTTP function goes through first: a correlation id for the request (its
    `x-correlation-id` header, in every log line), telemetry, and the bearer token check
    (AUTH_TOKEN_VALIDATION): 401 or 403 with a WWW-Authenticate challenge, else the caller
    is in `req.state.caller`."""

    @functools.wraps(handler)
    async def checked(req: Request) -> Response:
        from shared import telemetry

        telemetry.configure()
        request_id = telemetry.new_correlation_id(req.headers.get(telemetry.CORRELATION_HEADER))
        telemetry.correlation_id.set(request_id)
        req.state.caller = None
        response = await _authenticate(req) or await handler(req)
        response.headers[telemetry.CORRELATION_HEADER] = request_id
        return response

    return checked


async def _authenticate(req: Request) -> Response | None:
    """None when the request may go on; else the 401/403/503 answer."""
    if not get_settings().auth.token_validation:
        return None
    from shared.auth import AuthError
    from shared.backends import token_validator

    try:
        req.state.caller = await token_validator().caller(req.headers.get("authorization"))
    except AuthError as exc:
        return error_response(exc.status, exc.description, headers={"WWW-Authenticate": exc.challenge(REALM)})
    except UpstreamError as exc:
        return refusal(req, exc)
    return None


def caller_id(req: Request, asserted_user_id: str | None) -> str:
    """The search principal of a request (its identity, or `anonymous`)."""
    return principal(req, asserted_user_id).search_principal


def principal(req: Request, asserted_user_id: str | None) -> Principal:
    """Who a request acts as: whose sessions it reaches, whose documents it finds.

    With token validation, the token's identity, whatever the body claims; without, the
    asserted user id only when AUTH_TRUST_ASSERTED_USERS says so; otherwise no identity."""
    caller = getattr(req.state, "caller", None)
    return Principal.of(
        caller.id if caller is not None else None,
        asserted_user_id,
        trust_asserted=get_settings().auth.trust_asserted_users,
        function_key=req.headers.get(FUNCTION_KEY_HEADER) or req.query_params.get(FUNCTION_KEY_PARAMETER),
    )


async def parse(
    req: Request, model: type[RequestModel], source: Literal["body", "query"] = "body"
) -> RequestModel | JSONResponse:
    """The JSON body (or the query string) as `model`, or the answer saying why not: 413 for
    a body over HTTP_MAX_BODY_BYTES (before it is parsed), 415 for another content type than
    JSON, 422 for anything the schema refuses."""
    try:
        if source == "query":
            # `code` is the function key, which the host passes through: not a parameter of ours.
            params = {k: v for k, v in req.query_params.items() if k != FUNCTION_KEY_PARAMETER}
            return model.model_validate(params)
        content_type = req.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            return error_response(415, f"send the body as JSON (content-type: application/json), not {content_type}")
        body = await _body(req, get_settings().http.max_body_bytes)
        if body is None:
            return error_response(
                413, f"the body is over the {get_settings().http.max_body_bytes} bytes this API takes"
            )
        if b"\\u0000" in body:  # valid JSON, but no text of ours may carry NUL characters
            return invalid(["body"], "NUL characters (\\u0000) are not allowed", "nul_character")
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        detail = ValidationErrorBody.model_validate({"detail": validation_detail(exc, source)})
        return JSONResponse(detail.model_dump(mode="json"), status_code=422)
    duplicated = duplicate_key(body)
    if duplicated is not None:
        message = f"key {duplicated[-1]!r} appears more than once in this object"
        return invalid(["body", *duplicated], message, "duplicate_key")
    return parsed


def duplicate_key(body: bytes) -> list[str | int] | None:
    """The path of the first key that an object of this (valid) JSON names twice, or None.

    JSON parsers keep the last of two same-named keys, so a proxy or a log could read
    another value than the one acted on: such a body is refused."""
    seen: dict[int, str] = {}  # id of an object built from duplicated pairs -> the key

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj and not seen:
                seen[id(obj)] = key
            obj[key] = value
        return obj

    try:
        tree = json.loads(body, object_pairs_hook=build)
    except (ValueError, RecursionError):  # what pydantic took but the stdlib parser does not (huge numbers)
        return None
    if not seen:
        return None
    [(target, key)] = seen.items()
    stack: list[tuple[Any, list[str | int]]] = [(tree, [])]
    while stack:  # every object is still alive in the tree, so the id is unambiguous
        node, path = stack.pop()
        if id(node) == target:
            return [*path, key]
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        stack.extend((child, [*path, name]) for name, child in children)
    return None


async def _body(req: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be over `limit` bytes."""
    declared = req.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in req.stream():  # a body without Content-Length is counted as it arrives
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def refusal(req: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, RequestError):
        return error_response(exc.status, exc.message, **exc.hints)
    if isinstance(exc, UpstreamError):  # a backend is down: the caller may retry later
        log.error("%s %s: %s", req.method, req.url.path, exc.code, exc_info=exc.__cause__)
        return error_response(503, exc.message, code=exc.code)
    log.error("unhandled error in %s %s", req.method, req.url.path, exc_info=exc)
    return error_response(500, "Internal server error.")


def invalid(loc: list[str | int], msg: str, kind: str) -> JSONResponse:
    """A 422 for one problem, in the validation errors' shape."""
    return JSONResponse({"detail": [{"loc": loc, "msg": msg, "type": kind}]}, status_code=422)


def error_response(status: int, detail: str, *, headers: dict[str, str] | None = None, **fields: Any) -> JSONResponse:
    """An ErrorBody answer; fields left unset are left out."""
    body = ErrorBody(detail=detail, **fields).model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


async def respond(
    req: Request,
    model: type[RequestModel],
    action: Callable[[RequestModel], Awaitable[BaseModel]],
    *,
    source: Literal["body", "query"] = "body",
) -> JSONResponse:
    """Validate the request as `model`, run `action`, and answer with its result as JSON."""
    body = await parse(req, model, source)
    if isinstance(body, JSONResponse):
        return body
    return await guarded(req, lambda: action(body))


async def guarded(req: Request, action: Callable[[], Awaitable[BaseModel]]) -> JSONResponse:
    """Run `action`; its result as JSON, or a safe 400/500 answer."""
    try:
        result = await action()
    except Exception as exc:  # noqa: BLE001 - every failure gets a safe answer
        return refusal(req, exc)
    return JSONResponse(result.model_dump(mode="json"))


def wants_stream(req: Request, asked: bool) -> bool:
    return asked or "text/event-stream" in req.headers.get("accept", "")


async def stream_events(
    req: Request, frames: AsyncIterator[str], failure_frame: str, headers: dict[str, str] | None = None
) -> Response:
    """A Server-Sent Events response from ready frames (shared.wire.sse).

    The first frame is produced before the response starts, so a refused request is still
    a plain 4xx/5xx answer. After that, a failure ends the stream with `failure_frame`.
    """
    try:
        first = await anext(frames)
    except Exception as exc:  # noqa: BLE001 - every failure gets a safe answer
        return refusal(req, exc)

    async def body() -> AsyncIterator[str]:
        yield first
        try:
            async for frame in frames:
                yield frame
        except Exception:
            log.exception("stream failed in %s %s", req.method, req.url.path)
            yield failure_frame

    # no-cache and no proxy buffering, so that each event reaches the client as it is sent
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
