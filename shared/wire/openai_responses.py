"""Wire shapes of OpenAI's Responses API (POST /api/v1/responses), as client.responses.create,
the OpenAI Agents SDK and the Vercel AI SDK's @ai-sdk/openai provider speak it.

A response answers like a chat completion (the same retrieval, prompt and citations); its
conversation is kept in the history store under an id the response id carries, so
`previous_response_id` continues it for the same caller. Streams are the typed events
(`response.created` … `response.completed`), each with its sequence number.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.core.errors import RequestError
from shared.core.types import Message, ToolCall, TurnResult
from shared.wire.citations import Citation, citation
from shared.wire.common import MAX_MESSAGE_CHARS, PositiveInteger, StrictModel, within_history_limit
from shared.wire.openai_protocol import (
    IGNORED_HINTS,
    MAX_CONTENT_PARTS,
    NAME_PATTERN,
    JsonObjectFormat,
    RefusedParameters,
    TextFormat,
    refuse_non_text_parts,
)

RESPONSE_ID_PATTERN = r"^resp_[0-9a-f]{48}$"  # resp_ + the conversation's 32 hex + this response's 16

RESPONSES_REFUSALS = {
    "background": "background responses are not supported; wait for the answer, or stream it",
    "conversation": "conversation objects are not supported; continue with previous_response_id",
    "include": "extra output (include) is not available; leave include unset",
    "max_tool_calls": "a tool-call limit is not supported; leave max_tool_calls unset",
    "prompt": "stored prompt templates are not supported; send instructions instead",
    "reasoning": "reasoning options are not supported on this route; leave reasoning unset",
    "top_logprobs": "token log probabilities are not returned; leave top_logprobs unset",
    "metadata": "response metadata is not stored; leave metadata unset",
    "service_tier": "service tiers are not offered; leave service_tier unset",
}


class InputText(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: Literal["input_text", "output_text"]
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)  # ids and status a client echoes back

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: (
        Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]
        | Annotated[list[InputText], Field(max_length=MAX_CONTENT_PARTS)]
    )

    def message(self) -> Message:
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return Message("system" if self.role == "developer" else self.role, text)


class FunctionCallItem(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=256)
    name: str = Field(pattern=NAME_PATTERN)
    arguments: str = Field(max_length=MAX_MESSAGE_CHARS)


class FunctionCallOutputItem(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=256)
    output: str = Field(max_length=MAX_MESSAGE_CHARS)


InputItem = InputMessage | FunctionCallItem | FunctionCallOutputItem
SUPPORTED_ITEMS = ("message", "function_call", "function_call_output")
MAX_INPUT_ITEMS = 1_000  # items of one input list: a long agent loop's calls and outputs fit


def _texts(item: InputItem) -> tuple[str, ...]:
    if isinstance(item, InputMessage):
        return (item.message().content,)
    return (item.arguments,) if isinstance(item, FunctionCallItem) else (item.output,)


class FunctionTool(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["function"] = Field(description="Only function tools: this service runs no built-in tools.")
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=10_000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamedFunctionChoice(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["function"]
    name: str = Field(pattern=NAME_PATTERN)


class TextFormatJsonSchema(BaseModel):
    model_config = ConfigDict(strict=True, populate_by_name=True)

    type: Literal["json_schema"]
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=10_000)
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class TextOptions(BaseModel):
    model_config = ConfigDict(strict=True)

    format: Annotated[TextFormat | JsonObjectFormat | TextFormatJsonSchema, Field(discriminator="type")] | None = None
    verbosity: Literal["medium"] | None = Field(None, description="Only the default verbosity.")


class ResponsesRequest(RefusedParameters, StrictModel):
    REFUSALS: ClassVar[dict[str, str]] = RESPONSES_REFUSALS
    # stream_options' one option pads events to hide their lengths; truncation: the prompt is
    # always fitted to the model's context window, whichever is asked.
    IGNORED: ClassVar[tuple[str, ...]] = (*IGNORED_HINTS, "stream_options", "truncation")

    model: str | None = Field(None, description="An agent id or a model alias; unset: the default model.")
    input: (
        Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)]
        | Annotated[list[InputItem], Field(max_length=MAX_INPUT_ITEMS)]
    ) = Field(description="A question, or the conversation as items (messages, function calls and their outputs).")
    instructions: str | None = Field(None, max_length=MAX_MESSAGE_CHARS, description="The client's instructions.")
    max_output_tokens: PositiveInteger | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool = False
    tools: list[FunctionTool] | None = Field(None, max_length=128, description="Functions (remote models).")
    tool_choice: Literal["none", "auto", "required"] | NamedFunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextOptions | None = None
    previous_response_id: str | None = Field(
        None, pattern=RESPONSE_ID_PATTERN, description="Continue that response's conversation (the same caller's)."
    )
    store: bool = Field(True, description="Keep this exchange so that previous_response_id can continue it.")
    user: str | None = Field(None, min_length=1, max_length=256, description="The end user, whose conversations.")

    @model_validator(mode="before")
    @classmethod
    def _refuse_other_items(cls, data: Any) -> Any:
        items = data.get("input") if isinstance(data, dict) else None
        for n, item in enumerate(items if isinstance(items, list) else ()):
            kind = item.get("type", "message") if isinstance(item, dict) else None
            if kind is not None and kind not in SUPPORTED_ITEMS:
                raise RequestError(
                    f"input[{n}]: items of type {kind!r} are not supported; send messages, function_call and "
                    "function_call_output items themselves (tool round trips are not stored; the AI SDK's openai "
                    "provider sends them with providerOptions.openai.store = false), or continue a stored "
                    "conversation with previous_response_id",
                    field=f"input.{n}.type",
                )
        refuse_non_text_parts(items, "input", ("input_text", "output_text"))
        return data

    @field_validator("input")
    @classmethod
    def _input_within_limit(cls, value: str | list[InputItem]) -> str | list[InputItem]:
        if isinstance(value, list):
            within_history_limit(text for item in value for text in _texts(item))
        return value

    def messages(self) -> list[Message]:
        """The input as the core's messages: consecutive function calls become one assistant message."""
        if isinstance(self.input, str):
            return [Message("user", self.input)]
        messages: list[Message] = []
        calls: list[ToolCall] = []  # consecutive function calls, gathered once (not one tuple per call)
        for item in self.input:
            if isinstance(item, FunctionCallItem):
                calls.append(ToolCall(item.call_id, item.name, item.arguments))
                continue
            if calls:
                messages.append(Message("assistant", "", tool_calls=tuple(calls)))
                calls = []
            if isinstance(item, InputMessage):
                messages.append(item.message())
            else:
                messages.append(Message("tool", item.output, tool_call_id=item.call_id))
        if calls:
            messages.append(Message("assistant", "", tool_calls=tuple(calls)))
        return messages

    def generation(self) -> dict[str, Any]:
        """Sampling, tools and output format in the Chat Completions shapes the core carries."""
        output = self.text.format if self.text else None
        response_format = None
        if isinstance(output, TextFormatJsonSchema):
            spec = output.model_dump(by_alias=True, exclude_none=True, exclude={"type"})
            response_format = {"type": "json_schema", "json_schema": spec}
        elif output is not None:
            response_format = {"type": output.type}
        choice = self.tool_choice
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_output_tokens,
            "tools": [
                {"type": "function", "function": t.model_dump(exclude_none=True, exclude={"type"})} for t in self.tools
            ]
            if self.tools
            else None,
            "tool_choice": {"type": "function", "function": {"name": choice.name}}
            if isinstance(choice, NamedFunctionChoice)
            else choice,
            "parallel_tool_calls": self.parallel_tool_calls,
            "response_format": response_format,
        }


def conversation_of(response_id: str) -> str:
    """The stored conversation a response id belongs to."""
    return response_id[len("resp_") : len("resp_") + 32]


def new_response_id(conversation: str | None) -> str:
    """A response id in `conversation` (a new, unguessable one when None)."""
    return f"resp_{conversation or secrets.token_hex(16)}{secrets.token_hex(8)}"


# --- responses ---


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)


class OutputMessage(BaseModel):
    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed", "incomplete"] = "completed"
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class OutputFunctionCall(BaseModel):
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed"] = "completed"


class ResponseUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int] = Field(default_factory=lambda: {"cached_tokens": 0})
    output_tokens_details: dict[str, int] = Field(default_factory=lambda: {"reasoning_tokens": 0})


class ResponseError(BaseModel):
    code: str
    message: str


class ResponseObject(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    model: str
    output: list[Annotated[OutputMessage | OutputFunctionCall, Field(discriminator="type")]]
    usage: ResponseUsage | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    error: ResponseError | None = None
    incomplete_details: dict[str, str] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    citations: list[Citation] = Field(default_factory=list, description="Entry n is what the answer's [n] cites.")


def response_object(
    body: ResponsesRequest, response_id: str, model: str, result: TurnResult | None, *, created_at: int | None = None
) -> ResponseObject:
    """The response: in progress (no result yet), or the turn's answer and tool calls."""
    echo = body.model_dump(
        include={"instructions", "previous_response_id", "max_output_tokens", "temperature", "top_p"}
    )
    options: dict[str, Any] = {
        "tools": [t.model_dump(exclude_none=True) for t in body.tools or ()],
        "tool_choice": body.tool_choice.model_dump()
        if isinstance(body.tool_choice, BaseModel)
        else body.tool_choice or "auto",
        "parallel_tool_calls": body.parallel_tool_calls is not False,
    }
    if body.text and body.text.format:
        options["text"] = {"format": body.text.format.model_dump(by_alias=True, exclude_none=True)}
    common = {"id": response_id, "created_at": created_at or int(time.time()), "model": model, **echo, **options}
    if result is None:
        return ResponseObject(status="in_progress", output=[], **common)
    truncated = result.finish_reason == "length"
    usage = result.usage
    return ResponseObject(
        status="incomplete" if truncated else "completed",
        output=output_items(response_id, result),
        usage=ResponseUsage(input_tokens=usage.prompt, output_tokens=usage.completion, total_tokens=usage.total)
        if usage
        else None,
        incomplete_details={"reason": "max_output_tokens"} if truncated else None,
        citations=[citation(i, s) for i, s in enumerate(result.sources, start=1)],
        **common,
    )


def output_items(response_id: str, result: TurnResult) -> list[OutputMessage | OutputFunctionCall]:
    items: list[OutputMessage | OutputFunctionCall] = []
    if result.answer or not result.tool_calls:
        status = "incomplete" if result.finish_reason == "length" else "completed"
        items.append(OutputMessage(id=message_id(response_id), status=status, content=[OutputText(text=result.answer)]))
    items += [
        OutputFunctionCall(id=call_item_id(response_id, n), call_id=c.id, name=c.name, arguments=c.arguments)
        for n, c in enumerate(result.tool_calls)
    ]
    return items


def message_id(response_id: str) -> str:
    return f"msg_{response_id[5:]}"


def call_item_id(response_id: str, index: int) -> str:
    return f"fc_{response_id[5:]}_{index}"
