"""The agents a deployment configures (AGENTS_*), as the settings parse them.

A leaf: the settings import this module, and it reads no settings (shared.agents resolves a
client's model name against the configured agents).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

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
