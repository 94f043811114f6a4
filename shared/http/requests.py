"""Reading a request into its declared models: the path, the query string and the JSON body;
and the one file of an upload (multipart/form-data).

Each raises what the caller should be told: InvalidRequest (422) for what the schema
refuses, RequestError 413 for a body over HTTP_MAX_BODY_BYTES (refused before it is parsed),
415 for a body that is not JSON.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, TypeVar

from azurefunctions.extensions.http.fastapi import Request
from pydantic import BaseModel, ValidationError

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.http.errors import InvalidRequest

Model = TypeVar("Model", bound=BaseModel)

FUNCTION_KEY_PARAMETER = "code"
FUNCTION_KEY_HEADER = "x-functions-key"
# A multipart body holds its file and a little more: part headers, boundaries, a few small fields.
FORM_OVERHEAD_BYTES = 64_000
MAX_FORM_FIELDS = 8


def path_parameters(req: Request, model: type[Model]) -> Model:
    try:
        return model.model_validate(req.path_params)
    except ValidationError as exc:
        raise InvalidRequest.of(exc, "path") from None


def query_parameters(req: Request, model: type[Model]) -> Model:
    # `code` is the function key, which the host passes through: not a parameter of ours.
    params = {k: v for k, v in req.query_params.items() if k != FUNCTION_KEY_PARAMETER}
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise InvalidRequest.of(exc, "query") from None


async def json_body(req: Request, model: type[Model]) -> Model:
    body = await json_bytes(req)
    if b"\\u0000" in body:  # valid JSON, but no text of ours may carry NUL characters
        raise InvalidRequest.one(["body"], "NUL characters (\\u0000) are not allowed", "nul_character")
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest.of(exc, "body") from None
    duplicated = duplicate_key(body)
    if duplicated is not None:
        message = f"key {duplicated[-1]!r} appears more than once in this object"
        raise InvalidRequest.one(["body", *duplicated], message, "duplicate_key")
    return parsed


async def json_bytes(req: Request) -> bytes:
    """The body of a JSON request, unparsed: RequestError 415 for another content type, 413 over the limit."""
    content_type = req.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise RequestError(f"send the body as JSON (content-type: application/json), not {content_type}", status=415)
    limit = get_settings().http.max_body_bytes
    body = await _body(req, limit)
    if body is None:
        raise RequestError(f"the body is over the {limit} bytes this API takes", status=413)
    return body


def public_url(req: Request, route: str) -> str:
    """The URL a client reaches `route` (under /api) at: the scheme and host it called, as a proxy in
    front of the app reports them (X-Forwarded-Proto, X-Forwarded-Host), else as the request has them."""
    scheme = req.headers.get("x-forwarded-proto", req.url.scheme).split(",")[0].strip()
    host = req.headers.get("x-forwarded-host", req.headers.get("host", req.url.netloc)).split(",")[0].strip()
    return f"{scheme}://{host}/api/{route}"


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    data: bytes


async def file_upload(req: Request, field: str, max_bytes: int) -> UploadedFile:
    """The one file of a multipart/form-data body, in the part named `field`: 415 for another
    content type, 413 (before parsing) for a body or file over `max_bytes`, 422 when it is missing."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise RequestError(f"send the file as multipart/form-data, not {content_type or 'no content type'}", status=415)
    too_large = RequestError(f"the file is over the {max_bytes} bytes a document may have", status=413)
    body = await _body(req, max_bytes + FORM_OVERHEAD_BYTES)
    if body is None:
        raise too_large

    async def replay() -> AsyncGenerator[bytes]:
        yield body
        yield b""

    try:
        form = await MultiPartParser(req.headers, replay(), max_files=1, max_fields=MAX_FORM_FIELDS).parse()
    except MultiPartException as exc:
        raise InvalidRequest.one(["body"], str(exc), "multipart") from None
    upload = form.get(field)
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidRequest.one(["body", field], f"a file part named {field!r} is required", "missing")
    data = await upload.read()
    if len(data) > max_bytes:
        raise too_large
    return UploadedFile(upload.filename, data)


def function_key(req: Request) -> str | None:
    """The function key the caller presented to the Functions host, if any."""
    return req.headers.get(FUNCTION_KEY_HEADER) or req.query_params.get(FUNCTION_KEY_PARAMETER)


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
