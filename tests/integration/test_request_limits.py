"""Large but valid requests are refused with a 400 naming the limit before any search runs
(shared/retrieval/limits.py), instead of failing inside the search; requests at a limit
are answered."""

from __future__ import annotations

import pytest

from shared.retrieval.limits import (
    MAX_FILTER_CHARS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_OPERATORS,
    MAX_FILTER_VALUES,
    MAX_LISTED_FIELDS,
    MAX_METADATA_FILTER_VALUES,
)
from shared.settings import EMBEDDED_EMBEDDING_MODEL

RAG = "/api/v2/flexible-rag"


def rag(**fetch_args):
    fetcher = {"top_k": 1, "vector_search": False} | fetch_args
    return {
        "question": "frame warranty",
        "fetch_args": {"AzureSearchFetcher": fetcher},
        "override_config": {"params": {"max_tokens": 4}},
    }


def any_of(terms: int) -> str:
    return " or ".join(f"category eq 'c{i}'" for i in range(terms - 1)) + " or category eq 'policy'"


def nested(levels: int) -> str:
    """and inside or inside and ..., `levels` groups deep; only the innermost term matches."""
    text = "category eq 'policy'"
    for level in range(levels):
        text = f"category ne 'x{level}' {'and' if level % 2 else 'or'} ({text})"
    return text


@pytest.mark.parametrize("filter_text", [any_of(MAX_FILTER_OPERATORS + 1), nested(MAX_FILTER_DEPTH)])
async def test_a_filter_at_a_limit_is_searched(client, filter_text):
    response = await client.post(RAG, json=rag(filter=filter_text))

    assert response.status_code == 200, response.text
    assert response.json()["errors"] == [] and response.json()["metadata"]  # the policy documents match


@pytest.mark.parametrize(
    ("fetch_args", "limit"),
    [
        ({"filter": any_of(600)}, f"more than {MAX_FILTER_OPERATORS} conditions"),
        ({"filter": any_of(2_000)}, f"at most {MAX_FILTER_CHARS} are taken"),
        ({"filter": nested(MAX_FILTER_DEPTH + 1)}, f"more than {MAX_FILTER_DEPTH} deep"),
        (
            {"filter": f"search.in(category, '{','.join(f'c{i}' for i in range(MAX_FILTER_VALUES + 1))}')"},
            f"more than {MAX_FILTER_VALUES} values",
        ),
        ({"highlight_fields": ["text"] * 100_000}, f"highlight_fields may list at most {MAX_LISTED_FIELDS}"),
        ({"select_fields": ["title"] * (MAX_LISTED_FIELDS + 1)}, f"select_fields may list at most {MAX_LISTED_FIELDS}"),
        ({"facets": ["category"] * (MAX_LISTED_FIELDS + 1)}, f"facets may list at most {MAX_LISTED_FIELDS}"),
    ],
)
async def test_an_oversized_search_request_is_a_400_naming_the_limit(client, fetch_args, limit):
    response = await client.post(RAG, json=rag(**fetch_args))

    assert response.status_code == 400, response.text
    assert limit in response.json()["detail"]


async def test_oversized_metadata_filters_are_a_400_naming_the_limit(client):
    values = [f"c{i}" for i in range(3_000)]
    source = {"name": "docs", "model_name": EMBEDDED_EMBEDDING_MODEL, "metadata_filters": {"category": values}}
    body = {"query": "frame warranty", "rag_config": {"sources": [source]}, "max_tokens": 4}

    response = await client.post("/api/v1/chat/complete", json=body)

    assert response.status_code == 400, response.text
    assert f"at most {MAX_METADATA_FILTER_VALUES} values, got 3000" in response.json()["detail"]
