"""Reasoning effort: what the request asked for, and what may be sent to the provider.

Providers that reason (Azure OpenAI and OpenAI reasoning models) take "low", "medium" or
"high"; none of them takes "auto", which means "the provider's default": the parameter is
then left out. Models that do not reason reject the parameter, so it is never sent to them.
The caller's intent is kept in `requested` either way.
"""

from __future__ import annotations

from shared.core.types import ModelInfo, Reasoning, ReasoningEffort

SENDABLE = frozenset({"low", "medium", "high"})


def effective_reasoning(requested: ReasoningEffort | None, model: ModelInfo) -> Reasoning:
    effort: ReasoningEffort = requested or "auto"
    sent = effort if model.reasoning and effort in SENDABLE else None
    return Reasoning(
        requested=effort,
        sent_effort=sent,
        provider=model.provider,
        source="request" if requested else "default",
        sanitized=sent != effort,
    )
