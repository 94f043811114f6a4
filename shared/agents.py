"""What a configured agent means for a turn: its prompt, retrieval and default parameters.

Shared by the OpenAI-compatible endpoints and the session chat (POST /api/v1/chat).
"""

from __future__ import annotations

from typing import Any

from shared.config import Agent
from shared.core.types import GenerationParams, Message, PromptSpec, RetrievalSpec, TurnRequest


def agent_turn(
    agent: Agent,
    question: str,
    history: tuple[Message, ...] = (),
    *,
    user_id: str,
    session_id: str | None = None,
    session_owner: str | None = None,
    session_must_exist: bool = False,
    parameters: dict[str, Any] | None = None,
    alias: str | None = None,
    extra_filter: str | None = None,
    variables: dict[str, Any] | None = None,
    instructions: str | None = None,
) -> TurnRequest:
    """A turn answered as `agent`: `parameters` (the request's) win over the agent's, which win
    over temperature 0; `extra_filter` is ANDed with the agent's own filter; `instructions` are
    the client's own, combined with the agent's prompt (shared.core.types.PromptSpec)."""
    retrieval = agent.retrieval
    filters = [f for f in (retrieval.filter, extra_filter) if f]
    defaults = GenerationParams.of({"temperature": 0.0, **agent.parameters, "alias": agent.model})
    return TurnRequest(
        question=question,
        history=history,
        retrieval=RetrievalSpec(
            enabled=retrieval.enabled,
            rewrite=True,
            top_k=retrieval.top_k,
            vector_search=retrieval.search_mode == "hybrid",
            filter=" and ".join(f"({f})" for f in filters) if filters else None,
        ),
        prompt=PromptSpec(
            system_template=agent.system_prompt,
            system_file=agent.system_prompt_file,
            variables=variables or {},
            instructions=instructions,
        ),
        generation=GenerationParams.of({**(parameters or {}), "alias": alias}).with_defaults(defaults),
        user_id=user_id,
        session_id=session_id,
        session_owner=session_owner,
        session_must_exist=session_must_exist,
    )
