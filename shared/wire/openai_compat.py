"""Wire shapes of the OpenAI-compatible chat completions (and the model list).

Chat completions bound to a configured agent, and the plain base-URL form where `model`
names an agent or a model alias. Responses are exactly OpenAI's `chat.completion` and
`chat.completion.chunk` objects, tool calls included; the sources travel in an extra
`citations` field (and as [n] markers in the text), which OpenAI clients ignore.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.agent_definitions import Agent
from shared.agents import agent_turn
from shared.core.errors import RequestError, UpstreamError
from shared.core.events import AnswerDelta, SourcesFound, ToolCallDelta, TurnAccepted, TurnCompleted, TurnEvent
from shared.core.types import Message, Role, ToolCall, TurnRequest, TurnResult
from shared.wire import sse
from shared.wire.citations import Citation, citation
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
    check_tools_supported,
    client_turn,
    refuse_non_text_parts,
    tool_generation,
)

SESSION_HEADER = "x-session-id"
INSTRUCTION_ROLES = ("system", "developer")


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


# --- mapping ---


def _usage(result: TurnResult) -> Usage | None:
    if result.usage is None:
        return None
    return Usage(
        prompt_tokens=result.usage.prompt,
        completion_tokens=result.usage.completion,
        total_tokens=result.usage.total,
    )


@dataclass(frozen=True)
class CompletionCall:
    """A chat completions request, answered by `agent` with the model `model_alias`."""

    agent: Agent
    model_alias: str
    body: ChatCompletionsRequest
    user_id: str
    session_id: str | None  # a new one (create_session), the one to continue, or None
    id: str = ""
    created: int = 0
    session_owner: str | None = None  # whose conversation session_id names (shared.identity)
    takes_instructions: bool = False  # system and developer messages: the plain route's, not an agent's

    @classmethod
    def start(
        cls, agent: Agent, model_alias: str, body: ChatCompletionsRequest, user_id: str, *, takes_instructions: bool
    ) -> CompletionCall:
        session = str(uuid.uuid4()) if body.create_session else body.store_in_session
        return cls(
            agent,
            model_alias,
            body,
            user_id,
            str(session) if session else None,
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            takes_instructions=takes_instructions,
        )

    def turn_request(self) -> TurnRequest:
        """The core's request; RequestError (400) for a role this route does not take, a turn
        that is not the user's (or a tool round trip after it), or tools the model cannot call."""
        body = self.body
        for n, message in enumerate(body.messages):
            if message.role in INSTRUCTION_ROLES and not self.takes_instructions:
                raise RequestError(
                    f"messages[{n}]: role {message.role!r} is not supported; the agent owns the system prompt, "
                    "so send user and assistant messages only (POST /api/v1/chat/completions takes system "
                    "and developer messages)",
                    field=f"messages.{n}.role",
                )
            if message.role not in (*INSTRUCTION_ROLES, "user", "assistant", "tool"):
                raise RequestError(
                    f"messages[{n}]: role {message.role!r} is not supported; use system, developer, user, "
                    "assistant or tool",
                    field=f"messages.{n}.role",
                )
        messages = [m.message(n) for n, m in enumerate(body.messages)]
        conversation = client_turn(
            [replace(m, role="system") if m.role == "developer" else m for m in messages], "messages"
        )
        turn = agent_turn(
            self.agent,
            conversation.question,
            conversation.history,
            user_id=self.user_id,
            session_id=self.session_id,
            session_owner=self.session_owner,
            session_must_exist=body.store_in_session is not None,
            alias=self.model_alias,
            parameters={
                "temperature": body.temperature,
                "top_p": body.top_p,
                "frequency_penalty": body.frequency_penalty,
                "presence_penalty": body.presence_penalty,
                "max_tokens": body.max_tokens or body.max_completion_tokens,
                "stop": body.stop,
                "seed": body.seed,
                "n": body.n,
                **tool_generation(body.tools, body.tool_choice, body.parallel_tool_calls, body.response_format),
            },
            instructions=conversation.instructions,
        )
        check_tools_supported(self.model_alias, turn.generation, sessions=bool(self.session_id))
        return replace(turn, after_question=conversation.after_question)

    def completion(self, result: TurnResult) -> ChatCompletion:
        """The chat.completion object; UpstreamError when the turn could not answer."""
        _raise_if_failed(result)
        calls = [ToolCallOut.of(c) for c in result.tool_calls]
        first = AssistantMessage(content=result.answer or (None if calls else ""), tool_calls=calls or None)
        messages = [first, *(AssistantMessage(content=text) for text in result.answers[1:])]
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model_alias,
            choices=[
                Choice(index=i, message=message, finish_reason=_finish_reason(result))
                for i, message in enumerate(messages)
            ],
            usage=_usage(result),
            citations=[citation(i, s) for i, s in enumerate(result.sources, start=1)],
            session_id=self.session_id if self.body.create_session else None,
        )

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        return sse.data(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model_alias,
                "system_fingerprint": None,
                "choices": choices,
                **extra,
            }
        )

    def _delta(self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}], **extra)

    async def chunks(self, events: AsyncIterator[TurnEvent]) -> AsyncIterator[str]:
        """The turn as chat.completion.chunk frames, ending with `data: [DONE]`.

        The role chunk goes out as soon as the turn is accepted, before retrieval; the
        citations ride on the first chunk after the search. A failure after the role chunk
        ends the stream with an OpenAI-style error event (the SDKs raise it)."""
        citations: dict[str, Any] = {}  # until a chunk carries them
        async for event in events:
            if isinstance(event, TurnAccepted):
                yield self._delta({"role": "assistant", "content": ""}, **self._session())
            elif isinstance(event, SourcesFound):
                citations = {"citations": [citation(i, s).model_dump() for i, s in enumerate(event.sources, start=1)]}
            elif isinstance(event, AnswerDelta | ToolCallDelta):
                yield self._delta(_delta_of(event), **citations)
                citations = {}
            elif isinstance(event, TurnCompleted):
                result = event.result
                if result.errors:
                    yield sse.data({"error": _error(result)})
                    return
                yield self._delta({}, finish_reason=_finish_reason(result), **citations)
                if self.body.stream_options and self.body.stream_options.include_usage:
                    usage = _usage(result)
                    yield self._chunk([], usage=usage.model_dump() if usage else None)
        yield sse.data("[DONE]")

    def _session(self) -> dict[str, Any]:
        return {"session_id": self.session_id} if self.body.create_session else {}


def _finish_reason(result: TurnResult) -> str:
    return result.finish_reason or ("tool_calls" if result.tool_calls else "stop")


def _delta_of(event: AnswerDelta | ToolCallDelta) -> dict[str, Any]:
    """A chunk's delta: text, or a piece of a tool call (id, type and name on its first piece only)."""
    if isinstance(event, AnswerDelta):
        return {"content": event.text}
    call: dict[str, Any] = {"index": event.index}
    if event.id:
        call |= {"id": event.id, "type": "function"}
    call["function"] = (
        {"name": event.name, "arguments": event.arguments} if event.name else {"arguments": event.arguments}
    )
    return {"tool_calls": [call]}


def _error(result: TurnResult) -> dict[str, Any]:
    error = result.errors[0]
    return {"message": error.message, "type": "upstream_error", "code": error.code, "param": None}


def _raise_if_failed(result: TurnResult) -> None:
    if result.errors:
        error = result.errors[0]
        raise UpstreamError(error.code, error.message)


def stream_error(status: int, error: dict[str, Any]) -> str:
    """A failure after the role chunk, as OpenAI streams an error: the SDKs raise it as an APIError."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return sse.data({"error": {"message": error["detail"], "type": kind, "code": error.get("code"), "param": None}})
