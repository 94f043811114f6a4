"""Agents: the configured assistants (AGENTS_*), which one a client's name resolves to, and
what an agent means for a turn (its prompt, retrieval and default parameters).

Shared by the OpenAI-compatible endpoints and the session chat (POST /api/v1/chat).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from shared.core.errors import RequestError
from shared.text import quoted

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.core.types import Message, TurnRequest

SAMPLING_PARAMETERS = frozenset(
    ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty", "stop", "seed", "n")
)


def check_sampling_parameters(owner: str, params: dict[str, Any]) -> None:
    """ValueError naming `owner` (an agent, an A/B variant) when `params` sets anything but sampling parameters."""
    unknown = set(params) - SAMPLING_PARAMETERS
    if unknown:
        raise ValueError(f"{owner}: unknown parameters {sorted(unknown)}; known: {sorted(SAMPLING_PARAMETERS)}")


class AgentRetrieval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    top_k: int | None = Field(None, ge=0, description="Sources per question; default SEARCH_TOP_K.")
    filter: str | None = Field(None, description="An OData filter every search of this agent is ANDed with.")
    search_mode: Literal["hybrid", "text"] = Field("hybrid", description="hybrid: text + vectors; text: BM25 only.")


class Agent(BaseModel):
    """A configured assistant that the OpenAI-compatible endpoints serve by id."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    name: str = Field(min_length=1)
    model: str | None = Field(None, description="A model alias; the default model when unset.")
    system_prompt: str | None = Field(None, description="An inline Jinja2 system prompt.")
    system_prompt_file: str | None = Field(None, description="A system prompt template by name.")
    retrieval: AgentRetrieval = Field(default_factory=AgentRetrieval)
    parameters: dict[str, Any] = Field(default_factory=dict, description='Defaults, e.g. {"temperature": 0}.')

    @model_validator(mode="after")
    def _one_prompt(self) -> Agent:
        if self.system_prompt is not None and self.system_prompt_file is not None:
            raise ValueError(f"agent {self.name!r}: give system_prompt or system_prompt_file, not both")
        check_sampling_parameters(f"agent {self.name!r}", self.parameters)
        return self


# Serves when no agent is configured, so the OpenAI-compatible endpoints work out of the box.
BUILT_IN_AGENT = Agent(id=uuid.UUID("8c3e2a57-4f0b-4c1e-9a6d-2f5b7e1d9c40"), name="docs-assistant")


def configured_agents(listed: list[Agent], file: Path | None) -> list[Agent]:
    """The agents a deployment serves: those listed, then the file's; the built-in agent when
    there are none. ValueError when two share an id."""
    agents = [*listed, *TypeAdapter(list[Agent]).validate_json(file.read_bytes())] if file is not None else listed
    agents = agents or [BUILT_IN_AGENT]
    ids = [a.id for a in agents]
    if len(set(ids)) != len(ids):
        raise ValueError("agent ids must be unique")
    return agents


def _settings() -> Settings:
    from shared.config import get_settings  # the settings hold this module's models: imported at use

    return get_settings()


def find(agent_id: str | uuid.UUID) -> Agent | None:
    """The configured agent with this id (in any letter case), or None."""
    return next((a for a in _settings().agents.definitions if str(a.id) == str(agent_id).lower()), None)


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
    settings = _settings()
    served = [ServedModel(str(a.id), "agent", a.name) for a in settings.agents.definitions]
    return served + [ServedModel(alias, "model", alias) for alias in settings.model.aliases()]


def resolve(name: str | None, *, field: str) -> Agent:
    """The agent a client names as its model: the agent with that id, or for a model alias an
    agent answering with the default prompt and retrieval; RequestError (404, on `field`) for neither."""
    agent = find(name) if name else None
    if agent is not None:
        return agent
    if name in _settings().model.aliases():
        return Agent(id=uuid.uuid5(uuid.NAMESPACE_URL, f"model:{name}"), name=name, model=name)
    known = ", ".join(model.id for model in served_models())
    raise RequestError(
        f"no agent or model {quoted(name)}; GET /api/v1/models lists them: {known}", field=field, status=404
    )


def model_alias(agent: Agent) -> str:
    """The model answering as `agent`: its own, else the default model."""
    return agent.model or _settings().model.default_alias


def session_chat_agent() -> Agent:
    """The agent answering POST /api/v1/chat: AGENTS_SESSION_CHAT_AGENT, else the first agent."""
    agents = _settings().agents
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
    # Imported here: the settings import this module, and function_app loads without the core's types.
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
