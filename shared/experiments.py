"""A/B experiments: the variants a deployment configures (AB_EXPERIMENTS), and which one a user gets.

Requests join an experiment with ab_testing.experiment_name (the v2 API family).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.agents import check_sampling_parameters


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


def assigned_variant(experiment_name: str | None, user_id: str) -> Variant | None:
    """The variant of the configured experiment `experiment_name` assigned to the user; None
    when no such experiment is configured."""
    from shared.config import get_settings  # the settings hold this module's models

    configured = get_settings().experiments.experiments
    experiment = next((e for e in configured if e.name == experiment_name), None)
    return experiment.assign(user_id) if experiment else None
