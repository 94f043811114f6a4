"""What every API family's wire shapes share: the base models, the limits, and errors as a
turn reports them."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from shared.core.types import TurnError

MAX_N = 10  # completions one request may ask for
MAX_MESSAGE_CHARS = 100_000  # per history message: the token budget trims, but counting costs too
# All the messages of one request together (history, OpenAI messages, Responses input): about
# 250,000 tokens, more than most models' context window, and a bound on what a request makes
# the server count, fit and echo. Over it: 422 naming the field.
MAX_HISTORY_CHARS = 1_000_000
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


class StrictModel(BaseModel):
    # Unknown fields are refused rather than silently ignored: a misspelt option must not
    # look like it worked. Strict: JSON types as documented ("1" is not a number).
    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    # Query strings carry text only: values are converted ("20" is a page size).
    model_config = ConfigDict(extra="forbid")


def within_history_limit(texts: Iterable[str]) -> None:
    """For a validator of a request's messages: a 422 when their texts are over MAX_HISTORY_CHARS in all."""
    total = sum(map(len, texts))
    if total > MAX_HISTORY_CHARS:
        raise PydanticCustomError(
            "too_long",
            "the messages hold {total} characters in all; a request takes at most {limit}",
            {"total": total, "limit": MAX_HISTORY_CHARS},
        )


class ErrorOut(BaseModel):
    stage: str
    code: str
    message: str


def errors_out(errors: Iterable[TurnError]) -> list[ErrorOut]:
    return [ErrorOut(stage=e.stage, code=e.code, message=e.message) for e in errors]
