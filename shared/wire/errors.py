"""Error bodies every API family answers with (and the OpenAPI document describes)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """400, 401, 403, 404, 413, 500 and 503 answers. Never a stack trace or a secret."""

    detail: str = Field(description="What went wrong, in words meant for the caller.")
    code: str | None = Field(None, description="An upstream failure's code, e.g. model_failed, history_failed.")
    stage: str | None = Field(None, description="Which stage of a turn failed (POST /api/v1/chat/complete).")
    try_models: list[str] | None = Field(None, description="Models that take images (the -mm endpoints).")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", "field", 0, ...] or ["query", "name"].')
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """422 answers: the request did not match its schema."""

    detail: list[ValidationIssue]
