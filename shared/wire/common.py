"""What every API family's wire shapes share: the base models, the limits, and errors as a
turn reports them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from shared.core.types import TurnError

MAX_N = 10  # completions one request may ask for
MAX_MESSAGE_CHARS = 100_000  # per history message: the token budget trims, but counting costs too
# All the messages of one request together (history, OpenAI messages, Responses input): about
# 250,000 tokens, more than most models' context window, and a bound on what a request makes
# the server count, fit and echo. Over it: 422 naming the field.
MAX_HISTORY_CHARS = 1_000_000
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


def _whole_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer field of a request: JSON Schema counts 4.0 as the integer 4, so the strict models
# take it as 4; 4.5 (and true, and "4") stays refused with a 422. Bounds go before the validator
# (as in the types below): given after it, on an optional field, pydantic leaves them out of
# the JSON Schema.
_WHOLE_NUMBER = BeforeValidator(_whole_number)
Integer = Annotated[int, _WHOLE_NUMBER]
PositiveInteger = Annotated[int, Field(ge=1), _WHOLE_NUMBER]
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1), _WHOLE_NUMBER]
CompletionCount = Annotated[int, Field(ge=1, le=MAX_N), _WHOLE_NUMBER]  # n

# Marks a string whose allowed values are the deployment's (the configured model aliases): the
# OpenAPI document lists them as its enum when it is built (shared.http.openapi); a request naming
# another is refused with a 400 that lists them.
DEPLOYMENT_VALUES = "x-deployment-values"
MODEL_ALIASES = {DEPLOYMENT_VALUES: "model-aliases"}


def not_both(first: str, second: str, *, first_given: dict[str, Any] | None = None) -> dict[str, Any]:
    """A rule a model's validator enforces, as JSON Schema: `first` and `second` are not both given
    (present and not null; `first_given` when another value of `first` counts as not given)."""
    given = {"not": {"type": "null"}}
    return {"not": {"required": [first, second], "properties": {first: first_given or given, second: given}}}


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
