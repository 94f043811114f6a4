"""GET /api/v2/models: the configured models and, on request, their health."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from shared.wire.common import QueryModel

if TYPE_CHECKING:  # the catalog pulls in the model clients; the OpenAPI document needs only the shapes
    from shared.llm.catalog import ModelStatus


class ModelsQuery(QueryModel):
    validate_: bool = Field(False, alias="validate", description="Add configuration checks per model.")
    deep: bool = Field(False, description="With validate: also build each client and make one cheap call.")
    filter_unhealthy: bool = Field(False, description="With validate: leave out models that failed.")


class ModelValidation(BaseModel):
    healthy: bool
    checks: list[str]
    problems: list[str]


class ModelEntry(BaseModel):
    alias: str
    provider: str
    deployment: str | None
    model: str
    supports_multimodal: bool
    reasoning: bool
    context_window: int
    default: bool
    validation: ModelValidation | None = None


class ModelsResponse(BaseModel):
    default: str
    models: list[ModelEntry]


def models_response(default_alias: str, statuses: Iterable[ModelStatus], *, validated: bool) -> ModelsResponse:
    """The models as listed; each with its checks and problems when they were `validated`."""
    return ModelsResponse(
        default=default_alias,
        models=[
            ModelEntry(
                **status.info.__dict__,
                default=status.default,
                validation=ModelValidation(healthy=status.healthy, checks=status.checks, problems=status.problems)
                if validated
                else None,
            )
            for status in statuses
        ],
    )
