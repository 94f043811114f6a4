"""How every failure becomes an answer, in one place.

422 for a request that does not match its schema ({"detail": [{loc, msg, type}]}); the
status a refusal names (RequestError, the one refusal type of core and edge: 400, 404,
413, 405 with its headers...); 503 when a backend failed or is not configured; 500 for anything unexpected. No
answer ever carries a stack trace: the log gets it, with the request's correlation id.
"""

from __future__ import annotations

import logging
from typing import Any

from azurefunctions.extensions.http.fastapi import JSONResponse, Request
from pydantic import ValidationError

from shared.core.errors import RequestError, UpstreamError
from shared.wire.errors import ErrorBody, ValidationErrorBody

log = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 4_000  # of an error's detail: room for lists of what is available, never a request echoed


class InvalidRequest(Exception):
    """A 422: what the schema (or a rule beside it) refuses, as validation issues."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__("the request does not match its schema")
        self.issues = issues

    @classmethod
    def of(cls, exc: ValidationError, source: str) -> InvalidRequest:
        """Pydantic's errors, located under `source` (body, query or path)."""
        return cls(
            [
                {"loc": [source, *error["loc"]], "msg": error["msg"], "type": error["type"]}
                for error in exc.errors(include_url=False, include_input=False)
            ]
        )

    @classmethod
    def one(cls, loc: list[str | int], msg: str, kind: str) -> InvalidRequest:
        return cls([{"loc": loc, "msg": msg, "type": kind}])


def refusal(req: Request, exc: Exception) -> JSONResponse:
    """The answer to a request that failed with `exc`."""
    if isinstance(exc, InvalidRequest):
        issues = ValidationErrorBody.model_validate({"detail": exc.issues})
        return JSONResponse(issues.model_dump(mode="json"), status_code=422)
    status, body = failure(req, exc)
    return JSONResponse(body, status_code=status, headers=exc.headers if isinstance(exc, RequestError) else None)


def failure(req: Request, exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and ErrorBody (as JSON) of a failure; what is not the caller's to know goes to the log."""
    if isinstance(exc, RequestError):
        return exc.status, _error_body(exc.message, **exc.hints)
    if isinstance(exc, UpstreamError):  # a backend is down: the caller may retry later
        log.error("%s %s: %s", req.method, req.url.path, exc.code, exc_info=exc.__cause__)
        return 503, _error_body(exc.message, code=exc.code)
    log.error("unhandled error in %s %s", req.method, req.url.path, exc_info=exc)
    return 500, _error_body("Internal server error.")


def _error_body(detail: str, **fields: Any) -> dict[str, Any]:
    """An ErrorBody as JSON; fields left unset are left out. The detail is cut at MAX_DETAIL_CHARS:
    messages quote request input shortened (shared.text.quoted), and this holds for any that does not."""
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
    return ErrorBody(detail=detail, **fields).model_dump(mode="json", exclude_none=True)
