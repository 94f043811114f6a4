"""POST /api/v2/flexible-rag through the app's own routes, on the embedded model and index."""

from __future__ import annotations

import pytest

from shared.core.orchestrator import FALLBACK_ANSWER
from tests.support import make_orchestrator

URL = "/api/v2/flexible-rag"
TIMING_KEYS = {
    "orchestrator.fetch_total",
    "orchestrator.prompt_build",
    "orchestrator.llm_generate",
    "orchestrator.history_build",
    "orchestrator_call",
    "build_response",
}


async def test_answers_from_the_sample_corpus_with_sources(client):
    response = await client.post(URL, json={"question": "How many years of warranty does the frame have?"})

    assert response.status_code == 200
    body = response.json()
    assert body["errors"] == []
    assert body["answer"] and body["answer"] != FALLBACK_ANSWER
    assert body["metadata"][0]["filename"] == "warranty-policy.md"
    assert "10 years" in body["metadata"][0]["text"]
    assert body["queried_indexes"] == ["docs"]
    meta = body["response_metadata"]
    assert meta["model_used"]["provider"] == "embedded"
    assert meta["model_used"]["alias"] == "smollm2"
    assert meta["token_usage"]["prompt"] > 0 and meta["token_usage"]["completion"] > 0
    assert body["tokens_used"] == meta["token_usage"]["total"]
    assert meta["total_sources_retrieved"] == len(body["metadata"]) == 3
    assert "[1] Brightwheel Cycles Warranty Policy:" in meta["system_prompt"]
    assert meta["errors_present"] is False
    assert meta["custom_templates_used"] is False
    assert body["timings"].keys() >= TIMING_KEYS
    assert body["template_info"] == {
        "system_prompt_source": "default",
        "response_template_source": "default",
        "template_variables_used": ["answer", "instructions", "retrieval_enabled", "sources"],
    }
    assert [m["role"] for m in body["history"]] == ["user", "assistant"]
    assert body["history"][1]["content"] == body["answer"]
    assert body["history"][1]["sources"] == body["metadata"]


async def test_fetch_args_select_fields_top_k_and_text_only_search(client):
    response = await client.post(
        URL,
        json={
            "question": "What does error code E07 mean?",
            "fetch_args": {
                "AzureSearchFetcher": {"top_k": 1, "select_fields": ["id", "filename"], "vector_search": False}
            },
            "override_config": {"params": {"max_tokens": 8}},
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert len(body["metadata"]) == 1
    assert set(body["metadata"][0]) == {"id", "filename", "@search.score", "source_url"}
    assert body["metadata"][0]["filename"] == "zephyr-e-bike-manual.md"


async def test_search_query_overrides_the_question(client):
    response = await client.post(
        URL,
        json={
            "question": "Summarize it.",
            "fetch_args": {
                "AzureSearchFetcher": {"query": "customer service opening hours", "top_k": 1, "vector_search": False}
            },
            "override_config": {"params": {"max_tokens": 8}},
        },
    )

    assert response.json()["metadata"][0]["filename"] == "company-faq.html"


async def test_skip_knowledge_base_answers_without_sources(client):
    response = await client.post(
        URL,
        json={
            "question": "What is the capital of France?",
            "skip_knowledge_base": True,
            "override_config": {"params": {"max_tokens": 16}},
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert body["metadata"] == [] and body["queried_indexes"] == []
    assert "Sources:" not in body["response_metadata"]["system_prompt"]
    assert body["answer"] != FALLBACK_ANSWER


async def test_inline_template_variables_and_parameter_overrides_are_applied(client, configure):
    configure(AUTH_TRUST_ASSERTED_USERS="true")  # so that u-123 is the caller's identity, which templates get
    response = await client.post(
        URL,
        json={
            "question": "Who founded Brightwheel Cycles?",
            "system_prompt_template": "Answer in a {{ tone }} tone for {{ user_id }}. {{ sources | length }} sources.",
            "template_variables": {"tone": "concise", "question": "cannot override the built-in"},
            "ab_testing": {"user_id": "u-123", "session_id": "s-1", "experiment_name": "layout"},
            "override_config": {"llm": "default", "params": {"temperature": 0, "max_tokens": 5, "seed": 7}},
            "metadata": {"customer_tier": "gold"},
        },
    )

    body = response.json()
    assert response.status_code == 200
    meta = body["response_metadata"]
    assert meta["system_prompt"] == "Answer in a concise tone for u-123. 3 sources."
    assert body["template_info"]["system_prompt_source"] == "inline"
    assert body["template_info"]["template_variables_used"] == ["answer", "sources", "tone", "user_id"]
    assert meta["custom_templates_used"] is True
    assert meta["config_overrides_applied"] is True
    assert meta["parameters"] == {"temperature": 0.0, "max_tokens": 5, "seed": 7}
    assert meta["token_usage"]["completion"] <= 5
    assert meta["request_metadata"] == {"customer_tier": "gold"}
    assert body["ab_testing"] == {"experiment_name": "layout", "variant_name": None, "session_id": "s-1"}


async def test_legacy_llm_parameters_form_is_accepted(client):
    response = await client.post(
        URL,
        json={"question": "Hi", "skip_knowledge_base": True, "override_config": {"llm": {"max_tokens": 3}}},
    )

    assert response.json()["response_metadata"]["parameters"]["max_tokens"] == 3


async def test_system_prompt_file_is_read_from_the_prompts_folder(client):
    response = await client.post(
        URL,
        json={
            "question": "Hi",
            "skip_knowledge_base": True,
            "system_prompt_file": "rag_system.jinja2",
            "override_config": {"params": {"max_tokens": 3}},
        },
    )

    body = response.json()
    assert body["template_info"]["system_prompt_source"] == "file:rag_system.jinja2"
    assert body["response_metadata"]["system_prompt"].startswith("You are a helpful assistant.")


# --- 422: malformed or schema-violating bodies ---


@pytest.mark.parametrize(
    ("payload", "loc", "error_type"),
    [
        (b'{"question": "unterminated', ["body"], "json_invalid"),
        (b"", ["body"], "json_invalid"),
        (b"{}", ["body", "question"], "missing"),
        (b'{"question": ""}', ["body", "question"], "string_too_short"),
        (b'{"question": 42}', ["body", "question"], "string_type"),
        (
            b'{"question": "q", "history": [{"role": "system", "content": "x"}]}',
            ["body", "history", 0, "role"],
            "literal_error",
        ),
        (
            b'{"question": "q", "fetch_args": {"AzureSearchFetcher": {"top_k": "many"}}}',
            ["body", "fetch_args", "AzureSearchFetcher", "top_k"],
            "int_type",
        ),
        (
            b'{"question": "q", "override_config": {"params": {"temperature": 3}}}',
            ["body", "override_config", "params", "temperature"],
            "less_than_equal",
        ),
        (b'{"question": "q", "response_templat": "typo"}', ["body", "response_templat"], "extra_forbidden"),
    ],
)
async def test_bad_bodies_get_422_with_detail(client, payload, loc, error_type):
    response = await client.post(URL, content=payload, headers={"content-type": "application/json"})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {"loc": loc, "type": error_type} == {k: detail[0][k] for k in ("loc", "type")}
    assert detail[0]["msg"]


async def test_both_system_prompt_forms_at_once_is_422(client):
    response = await client.post(
        URL, json={"question": "q", "system_prompt_template": "a", "system_prompt_file": "rag_system.jinja2"}
    )

    assert response.status_code == 422
    assert "not both" in response.json()["detail"][0]["msg"]


# --- 400: requests the core refuses ---


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"fetch_args": {"AzureSearchFetcher": {"select_fields": ["text", "secret"]}}},
            "unknown field(s) in select_fields: secret",
        ),
        ({"fetch_args": {"AzureSearchFetcher": {"top_k": 51}}}, "top_k must be between 0 and 50"),
        ({"fetch_args": {"AzureSearchFetcher": {"top_k": -1}}}, "top_k must be between 0 and 50"),
        ({"override_config": {"llm": "gpt-9"}}, "unknown model alias 'gpt-9'"),
        ({"system_prompt_template": "{{ ''.__class__.__mro__ }}"}, "refused by the sandbox"),
        ({"system_prompt_template": "{{ cycler.__init__.__globals__ }}"}, "refused by the sandbox"),
        ({"system_prompt_template": "{% if %}"}, "syntax error on line 1"),
        ({"system_prompt_file": "../function_app.py"}, "must be a relative path"),
        ({"system_prompt_file": "/etc/passwd"}, "must be a relative path"),
        ({"system_prompt_file": "missing.jinja2"}, "template 'missing.jinja2' was not found"),
    ],
)
async def test_refused_requests_get_400_with_a_clear_message(client, extra, message):
    response = await client.post(URL, json={"question": "What is the Zephyr?", **extra})

    assert response.status_code == 400
    assert message in response.json()["detail"]


# --- upstream failures: seed 001's safe fallback ---


async def test_a_failing_model_gives_the_fallback_answer(client, monkeypatch, caplog):
    from shared import backends
    from shared.llm.openai_chat import OpenAIChatModel
    from shared.remote_models import RemoteModel
    from tests.recording_server import RecordingServer

    with RecordingServer(lambda request: (500, {"error": {"message": "model crashed"}})) as server:
        failing = OpenAIChatModel(
            RemoteModel(alias="failing", provider="openai", model="m", endpoint=f"{server.url}/v1", max_retries=0)
        )
        orchestrator = make_orchestrator(chat_model=lambda alias: failing)
        monkeypatch.setattr(backends, "orchestrator", lambda: orchestrator)
        response = await client.post(URL, json={"question": "What is the Zephyr?"})

    body = response.json()
    assert response.status_code == 200
    assert body["answer"] == FALLBACK_ANSWER
    assert body["errors"] == [
        {"stage": "generation", "code": "model_failed", "message": "The language model failed to produce an answer."}
    ]
    assert body["response_metadata"]["errors_present"] is True
    assert body["tokens_used"] is None
    assert body["metadata"]  # the search ran; only the model failed
    assert "model failing failed: HTTP 500" in caplog.text
    assert "Traceback" not in response.text and "crashed" not in response.text


async def test_a_question_too_long_for_the_model_is_a_400_with_the_counts(client):
    response = await client.post(URL, json={"question": "x1y2z3 " * 2700, "skip_knowledge_base": True})

    assert response.status_code == 400
    assert (
        "model smollm2 leaves 3840 for the prompt (4096 in its context window, 256 for the answer)"
        in (response.json()["detail"])
    )


async def test_prompt_is_fitted_oldest_history_first_and_stays_flat(client):
    turn = [
        {"role": "user", "content": "Tell me about the battery. " * 40},
        {"role": "assistant", "content": "It lasts long. " * 60},
    ]
    # 3,000 of the 4,096 tokens are kept for the answer: the prompt gets 1,096.
    params = {"max_tokens": 3000, "stop": ["."]}
    sizes = []
    for length in (2, 8, 20):
        response = await client.post(
            URL,
            json={
                "question": "What is the range in Eco mode?",
                "history": turn * (length // 2),
                "skip_knowledge_base": True,
                "override_config": {"params": params},
            },
        )
        budget = response.json()["response_metadata"]["prompt_budget"]
        sizes.append(budget["prompt_tokens"])
        assert budget["prompt_tokens"] <= budget["context_window"] - budget["max_tokens"] == 4096 - 3000

    assert budget["dropped_history"] > 0 and budget["dropped_sources"] == []
    assert sizes[1] > sizes[0] and abs(sizes[2] - sizes[1]) < 300  # grows, then stays flat at the budget
    assert len(response.json()["history"]) == 22  # the response still returns the whole conversation


async def test_lowest_ranked_sources_go_when_history_is_not_enough(client):
    response = await client.post(
        URL,
        json={
            "question": "warranty " * 700,
            "fetch_args": {"AzureSearchFetcher": {"top_k": 8}},
            # 3,000 tokens kept for the answer: eight ~170-token sources no longer fit beside the question.
            "override_config": {"params": {"max_tokens": 3000, "stop": ["."]}},
        },
    )

    body = response.json()
    budget = body["response_metadata"]["prompt_budget"]
    assert response.status_code == 200 and budget["dropped_sources"]
    kept = [m["id"] for m in body["metadata"]]
    assert len(kept) + len(budget["dropped_sources"]) == 8 and not set(kept) & set(budget["dropped_sources"])
    assert budget["prompt_tokens"] <= 4096 - 3000


async def test_a_failing_search_gives_the_fallback_answer_without_calling_the_model(client, monkeypatch, caplog):
    from shared import backends
    from shared.core.errors import UpstreamError

    class BrokenRetriever:
        index_name = "docs"

        async def search(self, question, spec, identity=None):
            raise UpstreamError("search_failed", "The knowledge base search failed.") from ConnectionError("down")

    class ModelThatMustNotRun:
        info = backends.chat_model().info
        default_parameters = {"max_tokens": 1}

        def check_params(self, params):
            pass

        async def complete(self, messages, params):
            raise AssertionError("the model ran without its sources")

        def count_tokens(self, messages):
            return sum(len(m.content) for m in messages) // 4

        def count_known_tokens(self, messages):
            return None  # nothing counted before: count_tokens, in a thread

    broken = make_orchestrator(retriever=lambda plan: BrokenRetriever(), chat_model=lambda alias: ModelThatMustNotRun())
    monkeypatch.setattr(backends, "orchestrator", lambda: broken)

    response = await client.post(URL, json={"question": "What is the Zephyr's range?"})

    body = response.json()
    assert response.status_code == 200
    assert body["answer"] == FALLBACK_ANSWER
    assert body["errors"][0]["stage"] == "retrieval"
    assert body["metadata"] == []
    assert "retrieval failed: search_failed" in caplog.text
    assert "down" not in response.text


async def test_an_unexpected_error_is_a_500_without_details(client, monkeypatch, caplog):
    from shared import backends

    def explode():
        raise RuntimeError("secret connection string AccountKey=abc")

    monkeypatch.setattr(backends, "orchestrator", explode)

    response = await client.post(URL, json={"question": "q"})

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    assert "unhandled error in POST /api/v2/flexible-rag" in caplog.text


async def test_only_post_is_routed(client):
    response = await client.get(URL)  # another method: 405 from the path's function, as on Azure

    assert response.status_code == 405 and response.headers["allow"] == "POST"


async def test_search_outcome_travels_in_data_and_metadata(client):
    response = await client.post(
        URL,
        json={
            "question": "What does the warranty cover?",
            "fetch_args": {
                "AzureSearchFetcher": {
                    "filter": "category eq 'policy'",
                    "top_k": 2,
                    "include_total_count": True,
                    "facets": ["filename,count:5"],
                    "highlight_fields": ["text"],
                    "select_fields": ["id", "filename", "tags"],
                }
            },
            "override_config": {"params": {"max_tokens": 4}},
        },
    )

    body = response.json()
    assert response.status_code == 200
    fetcher = body["data"]["AzureSearchFetcher"]
    assert fetcher["index"] == "docs"
    assert fetcher["count"] == sum(f["count"] for f in fetcher["facets"]["filename"])
    assert {f["value"] for f in fetcher["facets"]["filename"]} <= {"warranty-policy.md", "returns-and-shipping.md"}
    first = body["metadata"][0]
    assert set(first) == {"id", "filename", "tags", "@search.score", "@search.highlights", "source_url"}
    assert "<em>" in first["@search.highlights"]["text"][0]
    assert fetcher["highlights"][first["id"]] == first["@search.highlights"]


async def test_a_malformed_filter_is_a_400_naming_it(client):
    response = await client.post(
        URL, json={"question": "q", "fetch_args": {"AzureSearchFetcher": {"filter": "category eq"}}}
    )

    assert response.status_code == 400
    assert "invalid filter 'category eq'" in response.json()["detail"]


async def test_n_returns_several_answers_with_the_documented_precedence(client):
    response = await client.post(
        URL,
        json={
            "question": "Describe the Zephyr.",
            "skip_knowledge_base": True,
            "response_template": "A: {{ answer }}",
            "override_config": {
                "llm": "default",
                "n": 2,
                "params": {"n": 3, "temperature": 0.9, "max_tokens": 8, "seed": 1},
            },
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert len(body["answers"]) == 2  # override_config.n wins over params.n
    assert body["answer"] == body["answers"][0]
    assert all(a.startswith("A: ") for a in body["answers"])  # the response template shapes each one
    assert body["response_metadata"]["parameters"] == {"temperature": 0.9, "max_tokens": 8, "seed": 1, "n": 2}


async def test_params_n_applies_when_override_n_is_absent_and_one_answer_has_no_list(client):
    three = await client.post(
        URL,
        json={
            "question": "Hi",
            "skip_knowledge_base": True,
            "override_config": {"params": {"n": 3, "max_tokens": 3, "seed": 5}},
        },
    )
    one = await client.post(
        URL, json={"question": "Hi", "skip_knowledge_base": True, "override_config": {"params": {"max_tokens": 3}}}
    )

    assert len(three.json()["answers"]) == 3
    assert one.json()["answers"] is None


@pytest.mark.parametrize("n", [0, 11])
async def test_n_out_of_range_is_422(client, n):
    response = await client.post(URL, json={"question": "Hi", "override_config": {"n": n}})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "override_config", "n"]


@pytest.mark.parametrize(
    ("override", "requested", "source"),
    [
        ({"reasoning_effort": "high"}, "high", "request"),
        ({"reasoning": {"effort": "low"}}, "low", "request"),
        ({}, "auto", "default"),
    ],
)
async def test_reasoning_effort_is_reported_and_not_sent_to_a_model_that_cannot_reason(
    client, override, requested, source
):
    response = await client.post(
        URL,
        json={
            "question": "Hi",
            "skip_knowledge_base": True,
            "override_config": {**override, "params": {"max_tokens": 3}},
        },
    )

    meta = response.json()["response_metadata"]
    assert meta["reasoning_effort"] == requested
    assert meta["reasoning_effective"] == {
        "requested": requested,
        "sent_effort": None,
        "provider": "embedded",
        "source": source,
        "sanitized": True,
    }
    assert "reasoning_effort" not in meta["parameters"]
