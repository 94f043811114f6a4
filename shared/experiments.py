"""A/B experiments: which variant of a configured experiment (shared.experiment_definitions) a
user gets.

Requests join an experiment with ab_testing.experiment_name (the v2 API family).
"""

from __future__ import annotations

from shared.config import get_settings
from shared.experiment_definitions import Variant


def assigned_variant(experiment_name: str | None, user_id: str) -> Variant | None:
    """The variant of the configured experiment `experiment_name` assigned to the user; None
    when no such experiment is configured."""
    configured = get_settings().experiments.experiments
    experiment = next((e for e in configured if e.name == experiment_name), None)
    return experiment.assign(user_id) if experiment else None
