"""The protocol between the embedded model's supervisor (shared.llm.worker_supervisor) and its
worker process (shared.llm.embedded_worker): JSON lines, requests on the worker's stdin and
events on its stdout. Both sides name operations and events by these enums.

    in:  {"op": "generate", "id": 1, "messages": [...], "params": {...}, "stream": true}
         {"op": "cancel", "id": 1}        {"op": "ping", "id": 2}
    out: {"event": "ready", "load_seconds": 0.3}
         {"id": 1, "event": "started"}                (the worker begins it: requests wait their turn)
         {"id": 1, "event": "delta", "text": "..."}   (streamed requests)
         {"id": 1, "event": "done", "text": "...", "finish_reason": "stop",
          "prompt_tokens": 690, "completion_tokens": 9}
         {"id": 1, "event": "cancelled", "completion_tokens": 12}
         {"id": 1, "event": "error", "message": "..."}   {"id": 2, "event": "pong"}

Every request ends with exactly one terminal event (done, cancelled, error or pong), unless the
worker dies first.
"""

from __future__ import annotations

from enum import StrEnum


class Op(StrEnum):
    GENERATE = "generate"  # one completion
    CANCEL = "cancel"  # stop that request: skipped if it waits, stopped at its next token if it runs
    PING = "ping"  # answered pong in turn: proves the model is loaded and answering


class Event(StrEnum):
    READY = "ready"  # the model is loaded (once, before any request)
    STARTED = "started"
    DELTA = "delta"
    DONE = "done"
    CANCELLED = "cancelled"
    ERROR = "error"
    PONG = "pong"


TERMINAL_EVENTS = frozenset({Event.DONE, Event.CANCELLED, Event.ERROR, Event.PONG})
