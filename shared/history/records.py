"""How both history stores write a message: a JSON-ready record, images as references only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from shared.core.errors import RequestError
from shared.core.types import Feedback, Image, Message, Source
from shared.text import shortened

TITLE_CHARS = 80


def message_record(message: Message) -> dict[str, Any]:
    record: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.sources:
        record["sources"] = [asdict(s) for s in message.sources]
    if message.images:  # never the bytes of an inline image: a note of what it was
        record["images"] = [asdict(i.reference()) for i in message.images]
    if message.feedback:
        record["feedback"] = asdict(message.feedback)
    return record


def message_from_record(record: dict[str, Any]) -> Message:
    feedback = record.get("feedback")
    return Message(
        record["role"],
        record["content"],
        tuple(Source(**s) for s in record.get("sources", ())),
        tuple(Image(**i) for i in record.get("images", ())),
        feedback=Feedback(**feedback) if feedback else None,
    )


def with_feedback(record: dict[str, Any], feedback: Feedback) -> dict[str, Any]:
    """A stored message's record with this feedback; only an answer takes feedback."""
    if record["role"] != "assistant":
        raise RequestError("feedback goes on an assistant message", field="index")
    return {**record, "feedback": asdict(feedback)}


def session_title(messages: Sequence[Message]) -> str:
    """A session's name in listings: its first question, on one line, shortened."""
    return shortened(next((m.content for m in messages if m.role == "user"), ""), TITLE_CHARS)
