"""What every HTTP handler shares: parse the body, call the core, map errors to status codes.

Status codes: 422 for a malformed body or schema violation ({"detail": [{loc, msg, type}]}),
400 for a request the core refuses (unknown field, unsafe template, ...), 500 for anything
unexpected. No response ever carries a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from azurefunctions.extensions.http.fastapi import JSONResponse, Request
from pydantic import BaseModel, ValidationError

from shared.core.errors import RequestError

log = logging.getLogger(__name__)

RequestModel = TypeVar("RequestModel", bound=BaseModel)


def validation_detail(exc: ValidationError, source: str) -> list[dict[str, Any]]:
    return [
        {"loc": [source, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]


def caller_id(claimed_user_id: str | None) -> str | None:
    """The identity a request acts as. Until token authentication lands, the body's claim."""
    return claimed_user_id


async def respond(
    req: Request,
    model: type[RequestModel],
    action: Callable[[RequestModel], Awaitable[BaseModel]],
    *,
    source: Literal["body", "query"] = "body",
) -> JSONResponse:
    """Validate the JSON body (or the query string) as `model`, run `action`, and answer."""
    try:
        if source == "body":
            body = model.model_validate_json(await req.body())
        else:
            body = model.model_validate(dict(req.query_params))
    except ValidationError as exc:
        return JSONResponse({"detail": validation_detail(exc, source)}, status_code=422)
    try:
        result = await action(body)
    except RequestError as exc:
        return JSONResponse({"detail": exc.message}, status_code=400)
    except Exception:
        log.exception("unhandled error in %s %s", req.method, req.url.path)
        return JSONResponse({"detail": "Internal server error."}, status_code=500)
    return JSONResponse(result.model_dump(mode="json"))
