"""Whom a request is for, as the embedded model's worker shares its time between callers.

The HTTP layer sets it for each request (the validated identity, else the user id the request
names, else the client's address); the worker's supervisor serves waiting requests by caller,
in turn (shared.llm.worker_supervisor). It is a key for fairness, not an identity: without token
validation a caller could name several users, and would then get several turns.
"""

from __future__ import annotations

import contextvars

caller: contextvars.ContextVar[str] = contextvars.ContextVar("fair_share_caller", default="")
