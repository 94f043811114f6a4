"""Chat models over the OpenAI protocol: Azure OpenAI, or any compatible server (OpenAI,
Ollama, vLLM, llama.cpp's server) by base URL.

The product builds each request body itself and reads the reply as plain JSON; the exchange
(URL, auth, retries honoring Retry-After, timeouts) is shared/llm/openai_http.py's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from shared.core.errors import UpstreamError
from shared.core.events import ToolCallDelta
from shared.core.types import Completion, GenerationParams, Message, ModelInfo, TokenUsage, ToolCall
from shared.llm.tokens import count_messages, known_messages
from shared.remote_models import RemoteModel

log = logging.getLogger(__name__)


def model_info(config: RemoteModel) -> ModelInfo:
    """What a remote alias is, without building its client."""
    return ModelInfo(
        alias=config.alias,
        provider=config.provider,
        deployment=config.model if config.provider == "azure_openai" else None,  # Azure names deployments
        model=config.model,
        reasoning=config.reasoning,
        context_window=config.context_window,
        supports_multimodal=config.supports_multimodal,
    )


class OpenAIChatModel:
    def __init__(self, config: RemoteModel) -> None:
        from shared.llm.openai_http import OpenAIEndpoint  # aiohttp: only once a model is built

        self._endpoint = OpenAIEndpoint(config)
        self._model = config.model
        self.info = model_info(config)
        self.default_parameters: dict[str, Any] = dict(config.parameters)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return count_messages(messages, self._model)

    def count_known_tokens(self, messages: Sequence[Message]) -> int | None:
        return known_messages(messages, self._model)

    def check_params(self, params: GenerationParams) -> None:
        """Nothing to refuse here: the model's server checks what it is sent, and its 400 is the model's."""

    async def check(self) -> None:
        """List the server's models: authenticated, and cheap on every OpenAI-compatible server."""
        await self._endpoint.get("/models")

    def _parameters(self, params: GenerationParams) -> dict[str, Any]:
        parameters = {**self.default_parameters, **params.overrides()}
        if "stop" in parameters:
            parameters["stop"] = list(parameters["stop"])
        if params.reasoning_effort:  # the core sends only what this model accepts
            parameters["reasoning_effort"] = params.reasoning_effort
        return {**parameters, **params.tool_options()}  # OpenAI's own shapes, not llama.cpp's

    def _failed(self, exc: Exception) -> UpstreamError:
        log.error("model %s failed: %s", self.info.alias, exc)
        return UpstreamError("model_failed", "The language model failed to produce an answer.")

    def _unreadable(self, what: str) -> UpstreamError:
        log.error("model %s gave %s: its reply could not be read", self.info.alias, what)
        return UpstreamError("model_failed", "The language model's reply could not be read.")

    def _body(self, messages: Sequence[Message], parameters: dict[str, Any]) -> dict[str, Any]:
        return {"model": self._model, "messages": [_chat_message(m) for m in messages], **parameters}

    async def stream(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[str | ToolCallDelta | Completion]:
        """Text and tool-call pieces, then the Completion. A reply that is not a readable stream
        (an HTML error page, broken JSON) or holds no chunk at all is a failure, not an empty answer."""
        from shared.llm.openai_http import ModelCallFailed, UnreadableReply

        parameters = self._parameters(params)
        parts: list[str] = []
        calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        usage = None
        finish = None
        chunk_count = 0
        body = {**self._body(messages, parameters), "stream": True, "stream_options": {"include_usage": True}}
        try:
            async with contextlib.aclosing(self._endpoint.events("/chat/completions", body)) as chunks:
                async for chunk in chunks:
                    chunk_count += 1
                    usage = chunk.get("usage") or usage
                    for choice in chunk["choices"]:
                        finish = choice.get("finish_reason") or finish
                        delta = choice["delta"]
                        for call in delta.get("tool_calls") or ():
                            yield _tool_call_piece(calls, call)
                        if content := delta.get("content"):
                            parts.append(content)
                            yield content
        except UnreadableReply as exc:
            raise self._unreadable(exc.what) from None
        except ModelCallFailed as exc:
            raise self._failed(exc) from exc
        except (KeyError, TypeError, AttributeError):
            raise self._unreadable("a chunk that is not a completion chunk") from None
        if not chunk_count:
            raise self._unreadable("no stream chunk")
        yield Completion(
            choices=("".join(parts).strip(),),
            usage=_usage(usage),
            finish_reason=finish,
            parameters=parameters,
            tool_calls=tuple(ToolCall(*call) for _, call in sorted(calls.items())),
        )

    async def complete(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        from shared.llm.openai_http import ModelCallFailed, UnreadableReply

        parameters = self._parameters(params)
        try:
            response = await self._endpoint.post("/chat/completions", self._body(messages, parameters))
        except UnreadableReply as exc:
            raise self._unreadable(exc.what) from None
        except ModelCallFailed as exc:
            raise self._failed(exc) from exc
        try:
            choices = sorted(response["choices"], key=lambda c: c["index"])
            usage = response.get("usage")
            return Completion(
                choices=tuple((c["message"].get("content") or "").strip() for c in choices),
                usage=_usage(usage),
                finish_reason=choices[0]["finish_reason"],
                parameters=parameters,
                finish_reasons=tuple(c["finish_reason"] for c in choices),
                reasoning_tokens=((usage or {}).get("completion_tokens_details") or {}).get("reasoning_tokens"),
                tool_calls=tuple(
                    ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                    for c in choices[0]["message"].get("tool_calls") or ()
                ),
            )
        except (KeyError, TypeError, AttributeError, IndexError):  # a body that is not JSON, or no completion
            raise self._unreadable("no completion") from None


def _usage(usage: dict[str, Any] | None) -> TokenUsage:
    if not usage:
        return TokenUsage(0, 0)
    return TokenUsage(prompt=usage["prompt_tokens"], completion=usage["completion_tokens"])


def _tool_call_piece(calls: dict[int, list[str]], call: dict[str, Any]) -> ToolCallDelta:
    """One streamed tool-call delta, also added to `calls` (the whole calls, for the Completion)."""
    function = call.get("function") or {}
    name = function.get("name")
    arguments = function.get("arguments") or ""
    whole = calls.setdefault(call["index"], ["", "", ""])
    whole[0] = call.get("id") or whole[0]
    whole[1] = name or whole[1]
    whole[2] += arguments
    return ToolCallDelta(call["index"], call.get("id"), name, arguments)


def _chat_message(message: Message) -> dict[str, Any]:
    """A message in the Chat Completions format: text, or text and images as content parts;
    an assistant's tool calls and a tool's result as OpenAI shapes them."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
        return {"role": "assistant", "content": message.content or None, "tool_calls": calls}
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for image in message.images:
        url: dict[str, Any] = {"url": image.url}
        if image.detail:
            url["detail"] = image.detail
        parts.append({"type": "image_url", "image_url": url})
    return {"role": message.role, "content": parts}
