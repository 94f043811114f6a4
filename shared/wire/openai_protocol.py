"""What the OpenAI-protocol routes (chat completions, the Responses API) share beyond their
own wire shapes: function tools, tool choice, structured output (response_format), a
client-kept conversation split into the core's turn, and the refusal of parameters this
service does not support, each with its reason and what to use instead (400, not 422).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.core.errors import RequestError
from shared.core.types import Message, ToolCall
from shared.wire.common import MAX_MESSAGE_CHARS

MAX_CONTENT_PARTS = 100  # parts of one message's content (the limit goes on the list, not on a text)

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(strict=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=10_000)
    parameters: dict[str, Any] | None = Field(None, description="A JSON Schema for the arguments.")
    strict: bool | None = None


class Tool(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["function"] = Field(description="Only function tools: this service runs no built-in tools.")
    function: FunctionDefinition


class NamedFunction(BaseModel):
    model_config = ConfigDict(strict=True)

    name: str = Field(pattern=NAME_PATTERN)


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class TextFormat(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["json_object"]


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(strict=True, populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=10_000)
    schema_: dict[str, Any] | None = Field(None, alias="schema", description="The JSON Schema the answer follows.")
    strict: bool | None = None


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]

# OpenAI parameters this service does not support: why, and what to use instead.
CHAT_REFUSALS = {
    "logprobs": "token log probabilities are not returned by this service; leave logprobs unset",
    "top_logprobs": "token log probabilities are not returned by this service; leave top_logprobs unset",
    "logit_bias": "token biasing is not supported; steer the answer with a system message instead",
    "functions": "the deprecated functions field is not supported; send tools instead",
    "function_call": "the deprecated function_call field is not supported; send tool_choice instead",
    "audio": "this service answers in text only; leave audio unset",
    "modalities": "this service answers in text only; leave modalities unset",
    "prediction": "predicted outputs are not supported; leave prediction unset",
    "web_search_options": "web search is not available; answers come from the knowledge base",
    "store": "completions are not stored for later retrieval; use create_session or store_in_session",
    "metadata": "request metadata is not stored; leave metadata unset",
    "service_tier": "service tiers are not offered; leave service_tier unset",
    "reasoning_effort": "reasoning effort is not taken on this route; POST /api/v2/flexible-chat sends "
    "override_config.reasoning_effort to models configured with reasoning: true",
    "verbosity": "verbosity is not supported; leave verbosity unset",
}
# Hints for OpenAI's own caching and abuse monitoring: they change no answer, so they are accepted and unused.
IGNORED_HINTS = ("prompt_cache_key", "prompt_cache_retention", "safety_identifier")
# Values some clients send by default that ask for nothing: accepted and ignored.
_HARMLESS: tuple[Any, ...] = (None, False, "auto", "default", {}, [])


class RefusedParameters(BaseModel):
    """A request model that refuses REFUSALS' parameters with a 400 naming the reason, and drops
    the IGNORED ones."""

    REFUSALS: ClassVar[dict[str, str]] = CHAT_REFUSALS
    IGNORED: ClassVar[tuple[str, ...]] = IGNORED_HINTS

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, reason in cls.REFUSALS.items():
            if name in data and data[name] not in _HARMLESS:
                # Not a ValueError: pydantic lets it through, so the route answers 400, not 422.
                raise RequestError(f"{name} is not supported: {reason}", field=name)
        return {k: v for k, v in data.items() if k not in cls.REFUSALS and k not in cls.IGNORED}


def refuse_non_text_parts(messages: Any, key: str, text_types: tuple[str, ...]) -> None:
    """RequestError (400) for a content part that is not text (an image, a file, audio): these
    routes take text; images go to the v2 API's multimodal endpoints."""
    for n, message in enumerate(messages if isinstance(messages, list) else ()):
        parts = message.get("content") if isinstance(message, dict) else None
        for i, part in enumerate(parts if isinstance(parts, list) else ()):
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(kind, str) and kind not in text_types:
                raise RequestError(
                    f"{key}[{n}].content[{i}]: {kind!r} parts are not supported; send text "
                    f"({' or '.join(text_types)}), and images to POST /api/v2/flexible-chat-mm",
                    field=f"{key}.{n}.content.{i}.type",
                )


class FunctionCallIn(BaseModel):
    model_config = ConfigDict(strict=True)

    name: str = Field(max_length=64)
    arguments: str = Field(max_length=MAX_MESSAGE_CHARS)


class ToolCallIn(BaseModel):
    """An assistant's tool call, as a client sends it back."""

    model_config = ConfigDict(strict=True)

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCallIn


class FunctionCallOut(BaseModel):
    name: str
    arguments: str = Field(description="JSON text, as the model wrote it.")


class ToolCallOut(BaseModel):
    """A tool call as Chat Completions shapes it."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut

    @classmethod
    def of(cls, call: ToolCall) -> ToolCallOut:
        return cls(id=call.id, function=FunctionCallOut(name=call.name, arguments=call.arguments))


def tool_generation(
    tools: list[Tool] | None, tool_choice: ToolChoice | None, parallel: bool | None, output: BaseModel | None
) -> dict[str, Any]:
    """The tool and output fields of GenerationParams, in OpenAI's Chat Completions shapes."""
    return {
        "tools": [t.model_dump(exclude_none=True) for t in tools] if tools else None,
        "tool_choice": tool_choice if isinstance(tool_choice, str) or tool_choice is None else tool_choice.model_dump(),
        "parallel_tool_calls": parallel,
        "response_format": output.model_dump(by_alias=True, exclude_none=True) if output else None,
    }


@dataclass(frozen=True)
class ClientTurn:
    """A client-kept conversation as the core takes it: the latest user question, what came
    before, the tool round trip after it, and the client's own instructions."""

    question: str
    history: tuple[Message, ...]
    after_question: tuple[Message, ...]
    instructions: str | None


def client_turn(messages: Sequence[Message], field: str) -> ClientTurn:
    """RequestError (400) unless the conversation ends with a user question, or with the
    results of the tool calls the model made after it."""
    rest = [m for m in messages if m.role != "system"]
    questions = [i for i, m in enumerate(rest) if m.role == "user"]
    if not questions:
        raise RequestError("the conversation has no user message to answer", field=field)
    tail = rest[questions[-1] + 1 :]
    round_trip = all(m.role == "tool" or m.tool_calls for m in tail) and (not tail or tail[-1].role == "tool")
    if not round_trip:
        raise RequestError(
            "the last message must be the user's question, or the tool results answering the tool calls "
            "that followed it",
            field=field,
        )
    instructions = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    return ClientTurn(rest[questions[-1]].content, tuple(rest[: questions[-1]]), tuple(tail), instructions or None)
