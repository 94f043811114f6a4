"""Wire shapes of the OpenAI-compatible chat completions (and the model list).

Chat completions bound to a configured agent, and the plain base-URL form where `model`
names an agent or a model alias. Responses are exactly OpenAI's `chat.completion` and
`chat.completion.chunk` objects, tool calls included; the sources travel in an extra
`citations` field (and as [n] markers in the text), which OpenAI clients ignore. The mapping
to and from the core is shared.families.openai_chat.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.core.errors import RequestError
from shared.core.types import Message, Role, ToolCall
from shared.wire.citations import Citation
from shared.wire.common import (
    MAX_MESSAGE_CHARS,
    CompletionCount,
    PositiveInteger,
    Seed,
    StrictModel,
    not_both,
    within_history_limit,
)
from shared.wire.openai_protocol import (
    MAX_CONTENT_PARTS,
    RefusedParameters,
    ResponseFormat,
    Tool,
    ToolCallIn,
    ToolCallOut,
    ToolChoice,
    refuse_non_text_parts,
)


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["text"]
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


class ChatMessageIn(BaseModel):
    # OpenAI clients may add fields such as `name`: accepted, not used.
    model_config = ConfigDict(extra="ignore", strict=True)

    role: str = Field(
        description="user, assistant or tool; on the plain route also system and developer (the client's "
        "instructions). The agent route takes user, assistant and tool: the agent owns the system prompt."
    )
    # The part limit on the list alone: on the union it would also cap a string at 100 characters.
    content: (
        Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]
        | Annotated[list[TextPart], Field(max_length=MAX_CONTENT_PARTS)]
        | None
    ) = Field(None, description="Null only on an assistant message with tool_calls.")
    tool_calls: list[ToolCallIn] | None = Field(None, max_length=128, description="An assistant's tool calls.")
    tool_call_id: str | None = Field(None, max_length=256, description="On a tool message: the call it answers.")

    def text(self) -> str:
        if self.content is None:
            return ""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)

    def texts(self) -> list[str]:
        """Every text the message carries: its content and its tool calls' arguments."""
        return [self.text(), *(c.function.arguments for c in self.tool_calls or ())]

    def message(self, n: int) -> Message:
        """The core's message; RequestError for a tool result without its call id."""
        if self.role == "tool" and not self.tool_call_id:
            raise RequestError(f"messages[{n}]: a tool message needs the tool_call_id it answers", field="messages")
        if self.content is None and not self.tool_calls:
            raise RequestError(
                f"messages[{n}]: content is required; it may be null only on an assistant message with tool_calls",
                field=f"messages.{n}.content",
            )
        calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in self.tool_calls or ())
        return Message(cast(Role, self.role), self.text(), tool_calls=calls, tool_call_id=self.tool_call_id)


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True)

    include_usage: bool = False


class ChatCompletionsRequest(RefusedParameters, StrictModel):
    model_config = ConfigDict(
        json_schema_extra=not_both("create_session", "store_in_session", first_given={"const": True})
    )

    messages: list[ChatMessageIn] = Field(min_length=1, max_length=200)
    model: str | None = Field(None, description="Unset or empty: the agent's model. Any other value must match it.")
    temperature: float | None = Field(None, ge=0, le=2, description="Default: the agent's, else 0.")
    top_p: float | None = Field(None, ge=0, le=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    n: CompletionCount = 1
    stop: list[str] | None = Field(None, min_length=1, max_length=4)
    max_tokens: PositiveInteger | None = None
    max_completion_tokens: PositiveInteger | None = Field(None, description="OpenAI's newer name for max_tokens.")
    seed: Seed | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, min_length=1, max_length=256, description="The end user, whose sessions these are.")
    create_session: bool = Field(False, description="Start a session; its id comes back in x-session-id.")
    store_in_session: uuid.UUID | None = Field(None, description="Continue this session, and store this turn in it.")
    tools: list[Tool] | None = Field(None, max_length=128, description="Functions the model may call (remote models).")
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = Field(None, description="text, json_object or json_schema.")

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refuse_non_text_parts(data.get("messages"), "messages", ("text",))
        return data

    @field_validator("messages")
    @classmethod
    def _messages_within_limit(cls, messages: list[ChatMessageIn]) -> list[ChatMessageIn]:
        within_history_limit(text for m in messages for text in m.texts())
        return messages

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_string(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # OpenAI takes a string or a list

    @model_validator(mode="after")
    def _one_session_option(self) -> ChatCompletionsRequest:
        if self.create_session and self.store_in_session:
            raise ValueError("give create_session or store_in_session, not both")
        return self


class AzureApiVersion(BaseModel):
    """The query of the Azure OpenAI route shape."""

    model_config = ConfigDict(populate_by_name=True)

    api_version: str | None = Field(
        None, alias="api-version", description="Azure OpenAI's API version: accepted, not used (one wire shape)."
    )


# --- responses ---


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = Field(description="Null when the model only calls tools.")
    tool_calls: list[ToolCallOut] | None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str | None
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None
    system_fingerprint: None = None
    citations: list[Citation]
    session_id: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    name: str = Field(description="The agent's name, or the model alias.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
