"""A turn as the Responses API's stream of typed events.

Order: response.created, response.in_progress; for the answer's text a message item
(output_item.added, content_part.added, output_text.delta…, output_text.done,
content_part.done, output_item.done); for each tool call a function_call item
(output_item.added, function_call_arguments.delta…, function_call_arguments.done,
output_item.done); then response.completed, or response.failed when the turn failed.
response.created goes out as soon as the turn is accepted, before retrieval: a request
refused before that is still a plain error status; after it, an `error` event ends the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.core.events import AnswerDelta, ToolCallDelta, TurnAccepted, TurnCompleted, TurnEvent
from shared.core.types import TurnResult
from shared.wire import sse
from shared.wire.openai_responses import (
    ResponsesRequest,
    call_item_id,
    message_id,
    response_object,
)


@dataclass
class _OpenItem:
    output_index: int
    item: dict[str, Any]
    text: list[str] = field(default_factory=list)  # the message's text, or the call's arguments


@dataclass
class ResponseEvents:
    body: ResponsesRequest
    response_id: str
    model: str
    created_at: int
    sequence: int = 0
    message: _OpenItem | None = None
    calls: dict[int, _OpenItem] = field(default_factory=dict)

    def _event(self, kind: str, **fields: Any) -> str:
        frame = sse.event(kind, {"type": kind, "sequence_number": self.sequence, **fields})
        self.sequence += 1
        return frame

    def _response(self, result: TurnResult | None) -> dict[str, Any]:
        return response_object(self.body, self.response_id, self.model, result, created_at=self.created_at).model_dump(
            mode="json"
        )

    async def frames(self, events: AsyncIterator[TurnEvent]) -> AsyncIterator[str]:
        async for event in events:
            if isinstance(event, TurnAccepted):
                in_progress = self._response(None)
                yield self._event("response.created", response=in_progress)
                yield self._event("response.in_progress", response=in_progress)
            elif isinstance(event, AnswerDelta):
                for frame in self._text(event.text):
                    yield frame
            elif isinstance(event, ToolCallDelta):
                for frame in self._call(event):
                    yield frame
            elif isinstance(event, TurnCompleted):
                for frame in self._finish(event.result):
                    yield frame

    def _next_index(self) -> int:
        return len(self.calls) + (self.message is not None)

    def _open_message(self) -> Iterator[str]:
        item = {"type": "message", "id": message_id(self.response_id), "status": "in_progress", "role": "assistant"}
        self.message = _OpenItem(self._next_index(), item)
        yield self._event(
            "response.output_item.added", output_index=self.message.output_index, item={**item, "content": []}
        )
        yield self._event(
            "response.content_part.added", **self._where(), part={"type": "output_text", "text": "", "annotations": []}
        )

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.message.item["id"], "output_index": self.message.output_index, "content_index": 0}

    def _text(self, text: str) -> Iterator[str]:
        if self.message is None:
            yield from self._open_message()
        self.message.text.append(text)
        yield self._event("response.output_text.delta", **self._where(), delta=text, logprobs=[])

    def _call(self, piece: ToolCallDelta) -> Iterator[str]:
        call = self.calls.get(piece.index)
        if call is None:
            item = {
                "type": "function_call",
                "id": call_item_id(self.response_id, piece.index),
                "call_id": piece.id or "",
                "name": piece.name or "",
                "arguments": "",
                "status": "in_progress",
            }
            call = self.calls[piece.index] = _OpenItem(self._next_index(), item)
            yield self._event("response.output_item.added", output_index=call.output_index, item=item)
        if piece.arguments:
            call.text.append(piece.arguments)
            yield self._event(
                "response.function_call_arguments.delta",
                item_id=call.item["id"],
                output_index=call.output_index,
                delta=piece.arguments,
            )

    def _finish(self, result: TurnResult) -> Iterator[str]:
        if result.errors:  # the stream says so, it is not just cut
            error = result.errors[0]
            failed = {
                **self._response(None),
                "status": "failed",
                "error": {"code": error.code, "message": error.message},
            }
            yield self._event("response.failed", response=failed)
            return
        if self.message is None and (result.answer or not result.tool_calls):
            yield from self._open_message()
        # Cut by max_output_tokens: the message and the response end incomplete, as OpenAI's do.
        status = "incomplete" if result.finish_reason == "length" else "completed"
        if self.message is not None:
            part = {"type": "output_text", "text": result.answer, "annotations": []}
            yield self._event("response.output_text.done", **self._where(), text=result.answer, logprobs=[])
            yield self._event("response.content_part.done", **self._where(), part=part)
            item = {**self.message.item, "status": status, "content": [part]}
            yield self._event("response.output_item.done", output_index=self.message.output_index, item=item)
        for call in self.calls.values():
            arguments = "".join(call.text)
            where = {"item_id": call.item["id"], "output_index": call.output_index}
            yield self._event("response.function_call_arguments.done", **where, arguments=arguments)
            item = {**call.item, "arguments": arguments, "status": "completed"}
            yield self._event("response.output_item.done", output_index=call.output_index, item=item)
        yield self._event(f"response.{status}", response=self._response(result))


def stream_error(status: int, error: dict[str, Any]) -> str:
    """A failure after response.created: the Responses API's `error` event."""
    code = error.get("code") or ("server_error" if status >= 500 else "invalid_request_error")
    return sse.event("error", {"type": "error", "code": code, "message": error["detail"], "param": None})
