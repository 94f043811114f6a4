"""Groundedness and relevance scored by a judge model, with azure-ai-evaluation.

Only when a judge is configured: the package (requirements-judge.txt) is imported here, on
first use, so the default run needs neither it nor a model account.
"""

from __future__ import annotations

import os
from typing import Any, Literal

JUDGE_KEY_VARIABLE = "EVAL_JUDGE_API_KEY"


def judge_config(provider: Literal["azure_openai", "openai"], endpoint: str, model: str) -> dict[str, Any]:
    """azure-ai-evaluation's model configuration; the key comes from EVAL_JUDGE_API_KEY, never a flag."""
    key = os.environ.get(JUDGE_KEY_VARIABLE)
    if provider == "azure_openai":
        config: dict[str, Any] = {"azure_endpoint": endpoint, "azure_deployment": model}
        return config | ({"api_key": key} if key else {})
    return {"base_url": endpoint, "model": model, "api_key": key or "unused"}


def judge(records: list[dict[str, Any]], config: dict[str, Any]) -> None:
    """Adds `groundedness` and `relevance` (1 to 5) to each answered record, in place."""
    from azure.ai.evaluation import GroundednessEvaluator, RelevanceEvaluator

    groundedness, relevance = GroundednessEvaluator(config), RelevanceEvaluator(config)
    for record in records:
        if record["status"] != 200 or not record["answer"]:
            continue
        context = "\n\n".join(f"[{n}] {text}" for n, text in enumerate(record["source_texts"], start=1))
        record["groundedness"] = groundedness(query=record["question"], response=record["answer"], context=context).get(
            "groundedness"
        )
        record["relevance"] = relevance(query=record["question"], response=record["answer"]).get("relevance")


def judged_means(records: list[dict[str, Any]]) -> dict[str, float]:
    means = {}
    for name in ("groundedness", "relevance"):
        values = [r[name] for r in records if isinstance(r.get(name), int | float)]
        if values:
            means[name] = round(sum(values) / len(values), 2)
    return means
