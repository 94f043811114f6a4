"""Chat models over the OpenAI protocol (Azure OpenAI and compatible servers), by the requests
the real SDK sends to a local recording server."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError

from devtools.servers import running_in_background
from shared.core.errors import UpstreamError
from shared.core.types import GenerationParams, Message
from shared.llm.openai_chat import OpenAIChatModel
from shared.remote_models import RemoteModel
from shared.settings import ModelSettings
from tests.recording_server import RawReply, RecordingServer
from tests.support import completion, make_orchestrator

MESSAGES = [Message("system", "Answer from the sources."), Message("user", "How long is the warranty?")]
LOAD_EMBEDDED_MODEL = {"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


def remote(server, **overrides):
    fields = {
        "alias": "remote",
        "provider": "openai",
        "model": "small-model",
        "endpoint": f"{server.url}/v1",
        "max_retries": 0,
        **overrides,
    }
    return RemoteModel(**fields)


async def test_openai_compatible_request_and_answer():
    with RecordingServer(lambda request: (200, completion())) as server:
        model = OpenAIChatModel(remote(server, api_key="test-key", parameters={"temperature": 0.1, "max_tokens": 50}))
        result = await model.complete(MESSAGES, GenerationParams(temperature=0.7, stop=("END",), seed=3))

    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.body == {
        "model": "small-model",
        "messages": [
            {"role": "system", "content": "Answer from the sources."},
            {"role": "user", "content": "How long is the warranty?"},
        ],
        "temperature": 0.7,
        "max_tokens": 50,
        "stop": ["END"],
        "seed": 3,
    }
    assert result.text == "Ten years [1]."
    assert (result.usage.prompt, result.usage.completion) == (12, 4)
    assert result.parameters == {"temperature": 0.7, "max_tokens": 50, "stop": ["END"], "seed": 3}
    assert model.info.provider == "openai" and model.info.deployment is None


async def test_azure_openai_request_goes_to_the_deployment():
    with RecordingServer(lambda request: (200, completion())) as server:
        model = OpenAIChatModel(
            remote(
                server,
                provider="azure_openai",
                endpoint=server.url,
                model="gpt-4o-mini",
                api_key="test-azure-key",
                api_version="2024-10-21",
            )
        )
        await model.complete(MESSAGES, GenerationParams())

    [request] = server.requests
    assert request.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert request.query["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == "test-azure-key"
    assert model.info.deployment == "gpt-4o-mini"


async def test_a_429_is_retried_after_the_time_the_server_asks_for():
    answers = iter([(429, {"error": {"message": "slow down"}}), (200, completion())])

    class RetryAfter(RecordingServer):
        async def _handle(self, request):
            response = await super()._handle(request)
            if response.status_code == 429:
                response.headers["retry-after"] = "0"
            return response

    with RetryAfter(lambda request: next(answers)) as server:
        result = await OpenAIChatModel(remote(server, max_retries=1)).complete(MESSAGES, GenerationParams())

    assert len(server.requests) == 2 and result.text == "Ten years [1]."


async def test_a_failing_server_is_an_upstream_error(caplog):
    failing = RecordingServer(lambda request: (500, {"error": {"message": "boom"}}))
    with failing as server, pytest.raises(UpstreamError):
        await OpenAIChatModel(remote(server, api_key="sk-secret-value")).complete(MESSAGES, GenerationParams())

    assert "model remote failed: HTTP 500" in caplog.text
    assert "sk-secret-value" not in caplog.text


def test_model_settings_resolve_aliases(tmp_path):
    listed = tmp_path / "models.json"
    listed.write_text(json.dumps([{"alias": "filed", "provider": "openai", "model": "m", "endpoint": "http://x/v1"}]))
    inline = [{"alias": "gpt", "provider": "azure_openai", "model": "gpt-4o", "endpoint": "https://a.openai.azure.com"}]

    settings = ModelSettings(models=inline, models_file=listed, default_alias="gpt")

    assert settings.aliases() == ["smollm2", "gpt", "filed"]
    assert settings.remote("filed").endpoint == "http://x/v1"
    assert ModelSettings(provider="none", models=inline).default_alias == "gpt"
    with pytest.raises(ValidationError, match="is not one of"):
        ModelSettings(default_alias="missing")
    with pytest.raises(ValidationError, match="must be unique"):
        ModelSettings(models=[{**inline[0], "alias": "smollm2"}])
    with pytest.raises(ValidationError, match="no chat model"):
        ModelSettings(provider="none")


def test_flexible_rag_answers_with_a_remote_model_configured_by_settings(sample_index):
    with RecordingServer(lambda request: (200, completion("The frame: 10 years [1]."))) as server:
        models = [
            {
                "alias": "remote",
                "provider": "openai",
                "model": "small-model",
                "endpoint": f"{server.url}/v1",
                "parameters": {"max_tokens": 64},
            }
        ]
        with running_in_background(env={"LLM_MODELS": json.dumps(models)}) as base_url:
            url = f"{base_url}/api/v2/flexible-rag"
            chosen = httpx.post(
                url, json={"question": "Frame warranty?", "override_config": {"llm": "remote"}}, timeout=60
            ).json()
            unknown = httpx.post(url, json={"question": "q", "override_config": {"llm": "nope"}}, timeout=60)

    assert chosen["answer"] == "The frame: 10 years [1]."
    assert chosen["response_metadata"]["model_used"] == {
        "alias": "remote",
        "provider": "openai",
        "deployment": None,
        "model": "small-model",
    }
    assert chosen["response_metadata"]["parameters"] == {"max_tokens": 64}
    assert chosen["tokens_used"] == 16
    [request] = server.requests
    assert request.body["messages"][0]["role"] == "system" and "Sources:" in request.body["messages"][0]["content"]
    assert unknown.status_code == 400
    assert "available: default, smollm2, remote" in unknown.json()["detail"]


@pytest.mark.parametrize(
    ("reasoning_model", "requested", "sent"),
    [(True, "high", "high"), (True, "auto", None), (True, None, None), (False, "medium", None)],
)
async def test_reasoning_effort_sent_only_where_the_provider_accepts_it(reasoning_model, requested, sent):
    from shared.core.reasoning import effective_reasoning

    def answer(request):
        body = completion()
        body["usage"]["completion_tokens_details"] = {"reasoning_tokens": 7}
        return 200, body

    with RecordingServer(answer) as server:
        model = OpenAIChatModel(
            remote(server, provider="azure_openai", endpoint=server.url, api_key="k", reasoning=reasoning_model)
        )
        effective = effective_reasoning(requested, model.info)
        result = await model.complete(MESSAGES, GenerationParams(reasoning_effort=effective.sent_effort))

    assert effective.sent_effort == sent
    assert effective.sanitized is (sent != (requested or "auto"))
    assert server.requests[0].body.get("reasoning_effort") == sent
    assert result.reasoning_tokens == 7


async def test_n_reaches_the_server_and_every_choice_comes_back():
    def answer(request):
        body = completion()
        body["choices"] = [
            {"index": i, "message": {"role": "assistant", "content": f"option {i}"}, "finish_reason": "stop"}
            for i in reversed(range(request.body["n"]))
        ]
        return 200, body

    with RecordingServer(answer) as server:
        result = await OpenAIChatModel(remote(server)).complete(MESSAGES, GenerationParams(n=2))

    assert server.requests[0].body["n"] == 2
    assert result.choices == ("option 0", "option 1")


# --- GET /api/v2/models ---


async def test_models_lists_the_embedded_default(client):
    listed = (await client.get("/api/v2/models")).json()
    deep = (await client.get("/api/v2/models?validate=true&deep=true")).json()

    assert listed == {
        "default": "smollm2",
        "models": [
            {
                "alias": "smollm2",
                "provider": "embedded",
                "deployment": None,
                "model": "SmolLM2-135M-Instruct.Q4_1",
                "supports_multimodal": False,
                "reasoning": False,
                "context_window": 4096,
                "default": True,
                "validation": None,
            }
        ],
    }
    assert deep["models"][0]["validation"] == {
        "healthy": True,
        "checks": ["llama.cpp available", "model file present", "client answered"],
        "problems": [],
    }


async def test_models_query_is_validated(client):
    response = await client.get("/api/v2/models?validate=perhaps")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "validate"]


def test_models_reports_misconfigured_and_rejected_aliases_and_filters_them():
    def answer(request):
        if request.headers.get("authorization") == "Bearer good-key":
            return 200, {"object": "list", "data": [{"id": "small-model", "object": "model"}]}
        return 401, {"error": {"message": "invalid key"}}

    with RecordingServer(answer) as server:
        models = [
            {
                "alias": "good",
                "provider": "openai",
                "model": "small-model",
                "endpoint": f"{server.url}/v1",
                "api_key": "good-key",
            },
            {
                "alias": "rejected",
                "provider": "openai",
                "model": "m",
                "endpoint": f"{server.url}/v1",
                "api_key": "bad-key-123",
                "max_retries": 0,
            },
            {"alias": "plain-http", "provider": "azure_openai", "model": "gpt", "endpoint": "http://10.0.0.9"},
        ]
        env = {"LLM_MODELS": json.dumps(models), "LLM_DEFAULT_ALIAS": "good"}
        with running_in_background(env=env) as base_url:
            # The deep check gives each model 10 s; the embedded one loads first, however slow the machine.
            loaded = httpx.post(f"{base_url}/api/v1/chat/completions", json=LOAD_EMBEDDED_MODEL, timeout=300)
            assert loaded.status_code == 200, loaded.text
            full = httpx.get(f"{base_url}/api/v2/models?validate=true&deep=true", timeout=60)
            healthy = httpx.get(f"{base_url}/api/v2/models?validate=true&deep=true&filter_unhealthy=true", timeout=60)

    by_alias = {m["alias"]: m for m in full.json()["models"]}
    assert full.json()["default"] == "good" and by_alias["good"]["default"] is True
    assert by_alias["good"]["validation"]["healthy"] is True
    assert by_alias["rejected"]["validation"]["problems"] == ["client check failed (HTTP 401)"]
    assert by_alias["plain-http"]["validation"]["problems"] == [
        "endpoint must use https (plain http only on this machine)"
    ]
    assert [m["alias"] for m in healthy.json()["models"]] == ["smollm2", "good"]
    assert "bad-key-123" not in full.text and server.url not in full.text and "10.0.0.9" not in full.text
    assert {r.path for r in server.requests} == {"/v1/models"}  # the misconfigured alias was never called


async def test_a_turn_past_its_deadline_gives_the_fallback_in_time():
    import time

    from shared.core.orchestrator import FALLBACK_ANSWER
    from shared.core.turn import DEADLINE_MESSAGE
    from shared.core.types import RetrievalSpec, TurnRequest

    def slow(request):
        time.sleep(3)
        return 200, completion()

    with RecordingServer(slow) as server:
        model = OpenAIChatModel(remote(server))
        orchestrator = make_orchestrator(chat_model=lambda alias: model, deadline_seconds=0.5)
        started = time.monotonic()
        result = await orchestrator.answer(TurnRequest("q", retrieval=RetrievalSpec(enabled=False)))
        elapsed = time.monotonic() - started

    assert elapsed < 1.5
    assert result.answer == FALLBACK_ANSWER
    assert [(e.stage, e.code, e.message) for e in result.errors] == [
        ("generation", "deadline_exceeded", DEADLINE_MESSAGE)
    ]


# --- a real OpenAI-compatible server: llama.cpp's, running the embedded model ---


@pytest.fixture(scope="module")
def llama_server():
    import sys

    from devtools.servers import free_port, serving
    from shared.llm.embedded import default_model_path

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--model_alias",
        "smollm2-served",
    ]
    with serving(command, port, "llama_cpp.server"):
        yield f"http://127.0.0.1:{port}/v1"


def served_model(endpoint):
    return OpenAIChatModel(
        RemoteModel(
            alias="served",
            provider="openai",
            model="smollm2-served",
            endpoint=endpoint,
            context_window=2048,
            parameters={"max_tokens": 16, "temperature": 0},
        )
    )


async def test_llama_cpp_server_answers_through_the_openai_protocol(llama_server):
    model = served_model(llama_server)

    await model.check()
    completion = await model.complete(MESSAGES, GenerationParams(seed=1))
    pieces = [piece async for piece in model.stream(MESSAGES, GenerationParams(seed=1))]

    assert completion.text and completion.usage.prompt > 10 and 0 < completion.usage.completion <= 16
    *deltas, final = pieces
    assert len(deltas) > 1 and all(isinstance(d, str) for d in deltas)
    assert final.text == "".join(deltas).strip() == completion.text  # temperature 0: the same answer
    assert 0 < model.count_tokens(MESSAGES) < 100


async def test_a_reply_that_is_not_json_is_an_unreadable_reply_not_a_failed_call(caplog):
    html = RecordingServer(lambda request: (200, RawReply("<html>proxy error</html>")))
    with html as server, pytest.raises(UpstreamError) as unreadable:
        await OpenAIChatModel(remote(server)).complete(MESSAGES, GenerationParams())
    assert unreadable.value.message == "The language model's reply could not be read."
    assert "model remote gave a reply that is not JSON" in caplog.text
