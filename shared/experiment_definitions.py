"""A/B experiments as the settings parse them (AB_EXPERIMENTS): their variants, and which one a
user gets. A leaf: the settings import this module, and it reads no settings.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.agent_definitions import check_sampling_parameters


class Variant(BaseModel):
    """One arm of an experiment: what it changes for the users assigned to it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, description="Share of users, relative to the other variants.")
    llm: str | None = Field(None, description="A model alias.")
    system_prompt_file: str | None = None
    response_template_file: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description='Sampling parameters, e.g. {"temperature": 0}.')

    @model_validator(mode="after")
    def _known_parameters(self) -> Variant:
        check_sampling_parameters(f"variant {self.name!r}", self.params)
        return self


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    variants: list[Variant] = Field(min_length=1)

    def assign(self, user_id: str) -> Variant:
        """The user's variant: a stable hash of experiment and user, over the weights, so a
        user keeps their variant on every request and every instance."""
        digest = hashlib.sha256(f"{self.name}\n{user_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v.weight for v in self.variants)
        for variant in self.variants:
            point -= variant.weight
            if point < 0:
                return variant
        return self.variants[-1]
