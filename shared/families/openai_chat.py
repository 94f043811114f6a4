"""The OpenAI-compatible chat completions' mapping (shared.http.turns.TurnMapping): which agent
and model answer, the caller's sessions, the roles each route takes, the model's tools (the
check the Responses API makes too); the chat.completion object, the chat.completion.chunk
frames, and OpenAI's error on a failed turn.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shared import agents
from shared.agent_definitions import Agent
from shared.config import get_settings
from shared.core.errors import RequestError, UpstreamError
from shared.core.events import AnswerDelta, SourcesFound, ToolCallDelta, TurnAccepted, TurnCompleted, TurnEvent
from shared.identity import SessionFamily
from shared.text import quoted
from shared.wire import sse
from shared.wire.citations import citation
from shared.wire.openai_compat import AssistantMessage, ChatCompletion, ChatCompletionsRequest, Choice, Usage
from shared.wire.openai_protocol import ToolCallOut, client_turn, tool_generation

if TYPE_CHECKING:
    from shared.core.types import GenerationParams, TurnRequest, TurnResult
    from shared.http.endpoints import Call

SESSION_HEADER = "x-session-id"
INSTRUCTION_ROLES = ("system", "developer")


@dataclass(frozen=True)
class ChatCompletionTurn:
    """A chat completions request, answered by `agent` with the model `model_alias`."""

    agent: Agent
    model_alias: str
    body: ChatCompletionsRequest
    user_id: str
    session_id: str | None  # a new one (create_session), the one to continue, or None
    session_owner: str | None  # whose conversation session_id names (shared.identity)
    takes_instructions: bool  # system and developer messages: the plain route's, not an agent's
    id: str
    created: int

    @classmethod
    def of_agent(cls, call: Call[ChatCompletionsRequest, Any], agent_id: str) -> ChatCompletionTurn:
        """The agent `agent_id` answers: its prompt, retrieval and model (`model` unset, or that model)."""
        agent = agents.by_id(agent_id, field="agent_id")
        alias = agents.model_alias(agent)
        if call.body.model not in (None, "", alias):
            problem = (
                f"model {quoted(call.body.model)} is not this agent's model ({alias!r}); leave model unset to use it"
            )
            raise RequestError(problem, field="model")
        return cls._start(call, agent, takes_instructions=False)

    @classmethod
    def of_name(cls, call: Call[ChatCompletionsRequest, Any], name: str | None, field: str) -> ChatCompletionTurn:
        """`name` is an agent id (that agent answers) or a model alias (the default prompt and retrieval)."""
        return cls._start(call, agents.resolve(name, field=field), takes_instructions=True)

    @classmethod
    def _start(
        cls, call: Call[ChatCompletionsRequest, Any], agent: Agent, *, takes_instructions: bool
    ) -> ChatCompletionTurn:
        body = call.body
        caller = call.principal(body.user)
        session = str(uuid.uuid4()) if body.create_session else body.store_in_session
        session_id = str(session) if session else None
        return cls(
            agent,
            agents.model_alias(agent),
            body,
            caller.search_principal,
            session_id,
            caller.session_owner(SessionFamily.OPENAI, session_id) if session_id else None,
            takes_instructions,
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
        )

    @property
    def streams(self) -> bool:
        return self.body.stream

    @property
    def headers(self) -> dict[str, str]:
        return {SESSION_HEADER: self.session_id} if self.body.create_session else {}

    def turn_request(self) -> TurnRequest:
        """The core's request; RequestError (400) for a role this route does not take, a turn
        that is not the user's (or a tool round trip after it), or tools the model cannot call."""
        body = self.body
        self._check_roles()
        parameters = {
            "temperature": body.temperature,
            "top_p": body.top_p,
            "frequency_penalty": body.frequency_penalty,
            "presence_penalty": body.presence_penalty,
            "max_tokens": body.max_tokens or body.max_completion_tokens,
            "stop": body.stop,
            "seed": body.seed,
            "n": body.n,
            **tool_generation(body.tools, body.tool_choice, body.parallel_tool_calls, body.response_format),
        }
        messages = [m.message(n) for n, m in enumerate(body.messages)]
        conversation = client_turn(
            [replace(m, role="system") if m.role == "developer" else m for m in messages], "messages"
        )
        turn = agents.agent_turn(
            self.agent,
            conversation.question,
            conversation.history,
            user_id=self.user_id,
            session_id=self.session_id,
            session_owner=self.session_owner,
            session_must_exist=body.store_in_session is not None,
            alias=self.model_alias,
            parameters=parameters,
            instructions=conversation.instructions,
        )
        check_tools_supported(self.model_alias, turn.generation, sessions=bool(self.session_id))
        return replace(turn, after_question=conversation.after_question)

    def _check_roles(self) -> None:
        for n, message in enumerate(self.body.messages):
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

    def response(self, result: TurnResult) -> ChatCompletion:
        """The chat.completion object; UpstreamError (503) when the turn could not answer."""
        if result.errors:
            raise UpstreamError(result.errors[0].code, result.errors[0].message)
        calls = [ToolCallOut.of(c) for c in result.tool_calls]
        first = AssistantMessage(content=result.answer or (None if calls else ""), tool_calls=calls or None)
        messages = [first, *(AssistantMessage(content=text) for text in result.answers[1:])]
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model_alias,
            choices=[
                Choice(index=i, message=message, finish_reason=_finish_reason(result, i))
                for i, message in enumerate(messages)
            ],
            usage=_usage(result),
            citations=[citation(i, s) for i, s in enumerate(result.sources, start=1)],
            session_id=self.session_id if self.body.create_session else None,
        )

    async def frames(self, events: AsyncIterator[TurnEvent]) -> AsyncIterator[str]:
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

    def stream_error(self, status: int, error: dict[str, Any]) -> str:
        """A failure after the role chunk, as OpenAI streams an error: the SDKs raise it as an APIError."""
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return sse.data({"error": {"message": error["detail"], "type": kind, "code": error.get("code"), "param": None}})

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

    def _session(self) -> dict[str, Any]:
        return {"session_id": self.session_id} if self.body.create_session else {}


def check_tools_supported(alias: str, generation: GenerationParams, *, sessions: bool) -> None:
    """RequestError (400) when the model or the request cannot take tools. The embedded model
    calls no tools; server-side sessions store questions and answers, not tool round trips."""
    if not generation.tools:
        return
    settings = get_settings().model
    if not settings.capabilities(alias).tools:
        callers = [a for a in settings.aliases() if settings.capabilities(a).tools]
        hint = f"use a remote model ({', '.join(callers)})" if callers else "configure a remote model in LLM_MODELS"
        raise RequestError(f"model {alias!r} cannot call tools: {hint}, or send no tools", field="tools")
    if sessions:
        raise RequestError(
            "tools do not combine with server-side sessions (create_session, store_in_session, "
            "previous_response_id): keep the conversation on the client and send all of it",
            field="tools",
        )
    if (generation.n or 1) > 1:
        raise RequestError("with tools, ask for one completion (n = 1)", field="n")


def _usage(result: TurnResult) -> Usage | None:
    if result.usage is None:
        return None
    return Usage(
        prompt_tokens=result.usage.prompt,
        completion_tokens=result.usage.completion,
        total_tokens=result.usage.total,
    )


def _finish_reason(result: TurnResult, choice: int = 0) -> str:
    """A choice's own finish reason (one may be cut at max_tokens, another not), else the turn's."""
    own = result.finish_reasons[choice] if choice < len(result.finish_reasons) else None
    return own or result.finish_reason or ("tool_calls" if result.tool_calls else "stop")


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
