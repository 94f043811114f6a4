"""The events a turn yields, in order: SourcesFound?, AnswerDelta* and ToolCallDelta*, TurnCompleted.

Each API serializes them in its own wire format.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.core.types import ModelInfo, Source, TurnResult


@dataclass(frozen=True)
class TurnAccepted:
    """The turn passed every check made before work is spent on it (model, templates, session):
    a stream can start now. What fails from here on is reported inside the turn's events."""

    model: ModelInfo


@dataclass(frozen=True)
class SourcesFound:
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class AnswerDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call as the model streams it: id and name come first, then arguments."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True)
class TurnCompleted:
    result: TurnResult


TurnEvent = TurnAccepted | SourcesFound | AnswerDelta | ToolCallDelta | TurnCompleted
