"""Server-Sent Events framing, shared by the API families that stream."""

from __future__ import annotations

import json
from typing import Any


def event(name: str, payload: dict[str, Any]) -> str:
    """A named event (the v2 API: `event: delta`)."""
    return f"event: {name}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


def data(payload: dict[str, Any] | str) -> str:
    """An unnamed event, as OpenAI's streams send them; a string goes as is (`[DONE]`)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {text}\n\n"
