"""What every API family's wire shapes share: the base models, the limits, and errors as a
turn reports them."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from shared.core.types import TurnError

MAX_N = 10  # completions one request may ask for
MAX_MESSAGE_CHARS = 100_000  # per history message: the token budget trims, but counting costs too
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


class StrictModel(BaseModel):
    # Unknown fields are refused rather than silently ignored: a misspelt option must not
    # look like it worked. Strict: JSON types as documented ("1" is not a number).
    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    # Query strings carry text only: values are converted ("20" is a page size).
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    stage: str
    code: str
    message: str


def errors_out(errors: Iterable[TurnError]) -> list[ErrorOut]:
    return [ErrorOut(stage=e.stage, code=e.code, message=e.message) for e in errors]
