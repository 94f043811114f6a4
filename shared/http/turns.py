"""The one handler of a chat turn, whatever the API family: the family's mapping makes the
core's TurnRequest, the orchestrator runs it, and the mapping shapes what comes back.

A family's mapping (shared.families.*) implements `TurnMapping`, and `StreamingTurnMapping`
where the family streams. It is built from the
validated call, and holds all of the family's policy: who the caller is and whose session
the turn continues, which agent and model answer, what the model must be able to do. It
turns a TurnResult into the family's response (a failed turn is the family's to rule on:
a 200 with errors, a 503 or a 500) and the turn's events into the family's stream frames.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from pydantic import BaseModel

from shared.http.endpoints import EventStream, Reply

if TYPE_CHECKING:
    from shared.core.events import TurnEvent
    from shared.core.types import TurnRequest, TurnResult


class TurnMapping(Protocol):
    """One API family's request, as the core takes it and as the family answers it."""

    @property
    def headers(self) -> dict[str, str]:
        """Headers of the family's own on the answer (x-session-id), streamed or not."""

    def turn_request(self) -> TurnRequest:
        """The core's request; RequestError for what the family refuses."""

    def response(self, result: TurnResult) -> BaseModel:
        """The family's response to a finished turn; raises where the family refuses a failed turn."""


@runtime_checkable
class StreamingTurnMapping(TurnMapping, Protocol):
    """A family that can also answer with Server-Sent Events."""

    @property
    def streams(self) -> bool:
        """Whether the caller asked for a stream."""

    def frames(self, events: AsyncIterator[TurnEvent]) -> AsyncIterator[str]:
        """The turn's events as the family's stream frames (shared.wire.sse)."""

    def stream_error(self, status: int, error: dict[str, Any]) -> str:
        """The frame that ends a started stream on a failure (its status and ErrorBody)."""


_STREAMING: dict[type, bool] = {}  # by mapping class: isinstance with a Protocol inspects each member, every time


def _streams(mapping: TurnMapping) -> bool:
    """Whether the mapping is a StreamingTurnMapping (known once per class) and its caller asked for a stream."""
    kind = type(mapping)
    streaming = _STREAMING.get(kind)
    if streaming is None:
        streaming = _STREAMING[kind] = isinstance(mapping, StreamingTurnMapping)
    return streaming and bool(getattr(mapping, "streams", False))


async def answer(mapping: TurnMapping) -> Reply | EventStream:
    """The turn `mapping` describes, run by the orchestrator and answered as its family answers."""
    from shared.backends import orchestrator

    turn = mapping.turn_request()
    if _streams(mapping):
        streaming = cast(StreamingTurnMapping, mapping)
        frames = streaming.frames(orchestrator().run(turn, stream=True))
        return EventStream(frames, streaming.stream_error, streaming.headers)
    return Reply(mapping.response(await orchestrator().answer(turn)), mapping.headers)
