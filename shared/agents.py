"""Agents: which configured assistant (shared.agent_definitions) a client's name resolves to, and
what an agent means for a turn (its prompt, retrieval and default parameters).

Shared by the OpenAI-compatible endpoints and the session chat (POST /api/v1/chat).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shared.agent_definitions import Agent
from shared.config import get_settings
from shared.core.errors import RequestError
from shared.text import quoted

if TYPE_CHECKING:
    from shared.core.types import Message, TurnRequest


def find(agent_id: str | uuid.UUID) -> Agent | None:
    """The configured agent with this id (in any letter case), or None."""
    return next((a for a in get_settings().agents.definitions if str(a.id) == str(agent_id).lower()), None)


def by_id(agent_id: str, *, field: str) -> Agent:
    """The configured agent with this id; RequestError (404, on `field`) when there is none."""
    agent = find(agent_id)
    if agent is None:
        raise RequestError(f"no agent {quoted(agent_id)}", field=field, status=404)
    return agent


@dataclass(frozen=True)
class ServedModel:
    """A name clients may send as their model: an agent's id, or a model alias."""

    id: str
    owned_by: Literal["agent", "model"]
    name: str  # the agent's name, or the alias


def served_models() -> list[ServedModel]:
    """The agents by id, then the model aliases: what GET /api/v1/models lists."""
    settings = get_settings()
    served = [ServedModel(str(a.id), "agent", a.name) for a in settings.agents.definitions]
    return served + [ServedModel(alias, "model", alias) for alias in settings.model.aliases()]


def served_model(name: str, *, field: str) -> ServedModel:
    """The agent or model alias `name`, as GET /api/v1/models/{id} shows it; RequestError (404) for neither."""
    agent = resolve(name, field=field)
    return ServedModel(name, "agent" if find(name) else "model", agent.name)


def resolve(name: str | None, *, field: str) -> Agent:
    """The agent a client names as its model: the agent with that id, or for a model alias an
    agent answering with the default prompt and retrieval; RequestError (404, on `field`) for neither."""
    agent = find(name) if name else None
    if agent is not None:
        return agent
    if name in get_settings().model.aliases():
        return Agent(id=uuid.uuid5(uuid.NAMESPACE_URL, f"model:{name}"), name=name, model=name)
    known = ", ".join(model.id for model in served_models())
    raise RequestError(
        f"no agent or model {quoted(name)}; GET /api/v1/models lists them: {known}", field=field, status=404
    )


def model_alias(agent: Agent) -> str:
    """The model answering as `agent`: its own, else the default model."""
    return agent.model or get_settings().model.default_alias


def session_chat_agent() -> Agent:
    """The agent answering POST /api/v1/chat: AGENTS_SESSION_CHAT_AGENT, else the first agent."""
    agents = get_settings().agents
    return find(agents.session_chat_agent) if agents.session_chat_agent else agents.definitions[0]


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
    # Imported here: function_app loads without the core's types (cold start).
    from shared.core.types import GenerationParams, PromptSpec, RetrievalSpec, TurnRequest

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
