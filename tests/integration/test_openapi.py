"""The OpenAPI document: complete, valid, and true of the running app (schemathesis)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from devtools.servers import free_port, running_in_background, serving
from shared.wire.examples import PIXEL
from tests.conftest import SAMPLE_CORPUS

# Schemathesis runs with its default checks (every one) and this file's facts beside the document.
SCHEMATHESIS_CONFIG = Path(__file__).parents[1] / "schemathesis.toml"


def registered_functions() -> set[tuple[str, str, str]]:
    """(function name, path, method) of every HTTP function function_app registers, for the
    method it is declared for (the first function on a path also takes the others, for a 405)."""
    from shared.routes import api

    own = {op.name: op.method for op in api.operations}
    return {(name, path, method) for name, path, method in registered_bindings() if method == own[name]}


def registered_bindings() -> set[tuple[str, str, str]]:
    """(function name, path, method) of every method of every HTTP function function_app registers."""
    from devtools.local_server import app_functions

    registered = set()
    for function in app_functions():
        for binding in map(json.loads, function.get_raw_bindings()):
            if binding["type"] == "httpTrigger":
                registered |= {
                    (function.get_function_name(), f"/api/{binding['route']}", method.lower())
                    for method in binding["methods"]
                }
    return registered


def test_the_functions_and_the_document_come_from_the_same_declarations():
    from shared.http.openapi import openapi_document
    from shared.routes import api

    declared = {(op.name, f"/api/{op.route}", op.method) for op in api.operations}
    document = openapi_document(api.operations)
    documented = {
        (operation["operationId"], path, method)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }

    assert len(declared) == len(api.operations)  # no endpoint declared twice
    assert declared == registered_functions() == documented


async def test_the_served_document_lists_every_registered_function(client):
    document = (await client.get("/api/openapi.json")).json()

    documented = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert documented == {(path, method) for _, path, method in registered_functions()}
    assert document["openapi"] == "3.1.0"
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert {"401", "403"} <= operation["responses"].keys(), (path, method)
            # A body that does not fit its schema is a 422, but MCP's: a JSON-RPC error (400 or 200).
            assert "422" in operation["responses"] or method == "get" or path == "/api/mcp", (path, method)


def test_another_method_on_a_path_reaches_its_first_function():
    from shared.routes import api

    first = {}
    for op in api.operations:
        first.setdefault(op.route, op.name)
    extra = registered_bindings() - registered_functions()

    assert {(first[path.removeprefix("/api/")], path) for _, path, _ in extra} == {(n, p) for n, p, _ in extra}
    for _, path, method in extra:
        assert method.upper() not in api.allowed(path.removeprefix("/api/"))


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v2/flexible-rag", "POST"),
        ("GET", "/api/v2/flexible-rag", "POST"),
        ("PATCH", "/api/v2/sessions/s-1", "DELETE, GET"),
        ("POST", "/api/playground", "GET"),
        ("DELETE", "/api/mcp", "GET, POST"),
    ],
)
async def test_another_method_is_405_with_allow(client, method, path, allow):
    response = await client.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"detail": f"{method} is not allowed here: {allow}"}


async def test_the_document_declares_405_and_the_body_refusals(client):
    document = (await client.get("/api/openapi.json")).json()

    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert "Allow" in operation["responses"]["405"]["headers"], (path, method)
            if "requestBody" in operation:
                assert {"413", "415"} <= operation["responses"].keys(), (path, method)


async def test_the_security_it_states_is_the_deployments(client, configure):
    default = (await client.get("/api/openapi.json")).json()["security"]
    configure(HTTP_AUTH_LEVEL="anonymous")
    anonymous = (await client.get("/api/openapi.json")).json()

    assert default == [{"functionKey": []}, {"functionKeyQuery": []}]
    assert "security" not in anonymous


DOCUMENT = {"query": "q", "context_mode": "document"}
ATTACHMENT = {"query": "q", "context_mode": "attachment"}


@pytest.mark.parametrize(
    ("model", "body"),
    [
        ("flexible_requests.ImageIn", {"url": "https://example.com/a.png"}),
        ("flexible_requests.ImageIn", {"url": "HTTPS://example.com/a.png", "data_url": None}),
        ("flexible_requests.ImageIn", {"data_url": PIXEL, "detail": "low"}),
        ("flexible_requests.ImageIn", {}),
        ("flexible_requests.ImageIn", {"url": None, "data_url": None}),
        ("flexible_requests.ImageIn", {"url": "https://example.com/a.png", "data_url": PIXEL}),
        ("flexible_requests.ImageIn", {"url": "http://example.com/a.png"}),
        ("flexible_requests.ImageIn", {"data_url": "data:image/png;base64,A"}),
        ("flexible_requests.ImageIn", {"data_url": "data:image/png;base64,AAA"}),
        ("flexible_requests.ImageIn", {"data_url": "data:image/png;base64,AAA="}),
        ("flexible_requests.ImageIn", {"data_url": "data:text/html;base64,PGgxPg=="}),
        ("chat_complete.ChatCompleteRequest", {"query": "q"}),
        ("chat_complete.ChatCompleteRequest", {"query": "q", "context_mode": "none"}),
        ("chat_complete.ChatCompleteRequest", DOCUMENT),
        ("chat_complete.ChatCompleteRequest", {**DOCUMENT, "document_paths": None}),
        ("chat_complete.ChatCompleteRequest", {**DOCUMENT, "document_paths": []}),
        ("chat_complete.ChatCompleteRequest", {**DOCUMENT, "document_paths": ["warranty-policy.md"]}),
        ("chat_complete.ChatCompleteRequest", {"query": "q", "document_paths": []}),
        ("chat_complete.ChatCompleteRequest", ATTACHMENT),
        ("chat_complete.ChatCompleteRequest", {**ATTACHMENT, "attachment_config": None}),
        ("chat_complete.ChatCompleteRequest", {**ATTACHMENT, "attachment_config": {"attachments": []}}),
        ("chat_complete.ChatCompleteRequest", {**ATTACHMENT, "attachment_config": {"include_full_content": False}}),
        (
            "chat_complete.ChatCompleteRequest",
            {**ATTACHMENT, "attachment_config": {"attachments": [{"storage_key": "k"}]}},
        ),
        ("chat_complete.ChatCompleteRequest", {"query": "q", "context_mode": "hybrid", "document_paths": ["a.md"]}),
        ("flexible_requests.FlexibleChatRequest", {"question": "q", "response_template": "{{ answer }}"}),
        (
            "flexible_requests.FlexibleChatRequest",
            {"question": "q", "response_template": "x", "response_template_file": None},
        ),
        (
            "flexible_requests.FlexibleChatRequest",
            {"question": "q", "response_template": "x", "response_template_file": "a.j2"},
        ),
        (
            "flexible_requests.FlexibleChatRequest",
            {"question": "q", "system_prompt_template": "x", "system_prompt_file": "a.j2"},
        ),
        (
            "flexible_requests.FlexibleChatMultimodalRequest",
            {"question": "q", "metadata": {"images": [{"data_url": PIXEL}]}},
        ),
        (
            "flexible_requests.FlexibleChatMultimodalRequest",
            {"question": "q", "response_template": "x", "response_template_file": "a"},
        ),
        (
            "openai_compat.ChatCompletionsRequest",
            {"messages": [{"role": "user", "content": "q"}], "create_session": True},
        ),
        (
            "openai_compat.ChatCompletionsRequest",
            {"messages": [{"role": "user", "content": "q"}], "store_in_session": str(uuid4())},
        ),
        (
            "openai_compat.ChatCompletionsRequest",
            {"messages": [{"role": "user", "content": "q"}], "create_session": True, "store_in_session": str(uuid4())},
        ),
    ],
)
async def test_the_document_states_the_rules_the_models_check(client, model, body):
    """What a request model refuses with a 422 across its fields, its schema refuses too: a
    client (or a fuzzer) that follows the document sends requests the API takes."""
    from jsonschema import Draft202012Validator

    from shared.http.endpoints import wire_model

    schemas = (await client.get("/api/openapi.json")).json()["components"]["schemas"]
    ref = f"#/components/schemas/{model.rpartition('.')[2]}"
    schema = Draft202012Validator({"$ref": ref, "components": {"schemas": schemas}})
    try:
        wire_model(model).model_validate_json(json.dumps(body))
        valid = True
    except ValidationError:
        valid = False

    assert schema.is_valid(body) == valid


@pytest.mark.parametrize(("value", "accepted"), [(4, True), (4.0, True), (4.5, False), (True, False), ("4", False)])
def test_an_integer_is_what_json_schema_calls_one(value, accepted):
    """JSON Schema's integer is a number without a fraction: 4.0 is one (taken as 4), 4.5 is not."""
    from shared.wire.chat_complete import ChatCompleteRequest
    from shared.wire.flexible_requests import FlexibleChatRequest
    from shared.wire.openai_compat import ChatCompletionsRequest

    question = {"role": "user", "content": "q"}
    cases = [
        (ChatCompleteRequest, {"query": "q", "max_tokens": value}, lambda r: [r.max_tokens]),
        (
            FlexibleChatRequest,
            {"question": "q", "fetch_args": {"AzureSearchFetcher": {"top_k": value}}},
            lambda r: [r.fetch_args.AzureSearchFetcher.top_k],
        ),
        (
            FlexibleChatRequest,
            {"question": "q", "override_config": {"n": value, "params": {"seed": value}}},
            lambda r: [r.override_config.n, r.override_config.params.seed],
        ),
        (
            ChatCompletionsRequest,
            {"messages": [question], "n": value, "max_tokens": value},
            lambda r: [r.n, r.max_tokens],
        ),
    ]
    for model, body, fields in cases:
        try:
            parsed = model.model_validate_json(json.dumps(body))
        except ValidationError as exc:
            assert not accepted, exc
            assert {error["type"] for error in exc.errors()} == {"int_type"}
        else:
            assert accepted
            assert [(type(v), v) for v in fields(parsed)] == [(int, 4)] * len(fields(parsed))


async def test_the_document_lists_the_configured_model_aliases(client, configure):
    model = {"alias": "remote", "provider": "openai", "model": "m", "endpoint": "http://127.0.0.1:9/v1"}
    configure(LLM_MODELS=json.dumps([model]))
    schemas = (await client.get("/api/openapi.json")).json()["components"]["schemas"]

    aliases = ["default", "smollm2", "remote"]
    assert [b.get("enum") for b in schemas["OverrideConfig"]["properties"]["model"]["anyOf"]] == [aliases, None]
    assert schemas["OverrideConfig"]["properties"]["llm"]["anyOf"][0]["enum"] == aliases
    assert schemas["ChatCompleteRequest"]["properties"]["llm_model"]["anyOf"][0]["enum"] == aliases
    assert "x-deployment-values" not in json.dumps(schemas)


@contextlib.contextmanager
def zero_latency_model():
    """bench/zero_model.py, an OpenAI-compatible model that answers at once (images too), as an LLM_MODELS entry."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", "bench", "zero_model:app", "--port", str(port)]
    with serving([*command, "--host", "127.0.0.1"], port, "the zero-latency model"):
        model = {"alias": "zero", "provider": "openai", "model": "zero", "endpoint": f"http://127.0.0.1:{port}/v1"}
        yield {**model, "supports_multimodal": True}


def test_schemathesis_finds_no_server_error_and_no_schema_violation(sample_index, azurite):
    """Property-based requests from the document against the local server.

    Bounded by examples, not by time. The only model answers at once, so that the run measures
    the API, not generation: the document lists the configured model aliases, and fuzzed
    max_tokens on the embedded model would make each request as long as the deadline (its own
    paths are tested elsewhere). Documents and attachments are configured: every chat/complete
    mode runs."""
    binary = shutil.which("schemathesis", path=str(sys.prefix) + "/bin")
    if binary is None:
        pytest.fail("schemathesis is not installed: `make test` installs requirements-dev.txt")
    with (
        zero_latency_model() as model,
        running_in_background(
            env={
                "HTTP_AUTH_LEVEL": "anonymous",
                "HTTP_DEADLINE_SECONDS": "90",
                "LLM_MODELS": json.dumps([model]),
                "LLM_PROVIDER": "none",
                "LLM_DEFAULT_ALIAS": "zero",
                "SOURCES_DOCUMENTS_ROOT": str(SAMPLE_CORPUS),
                "SOURCES_ATTACHMENTS_CONNECTION_STRING": azurite,
            }
        ) as base_url,
    ):
        run = subprocess.run(
            [
                binary,
                "--config-file",
                str(SCHEMATHESIS_CONFIG),
                "run",
                f"{base_url}/api/openapi.json",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "5",
                # One worker: generating from the schema in two threads at once can crash
                # hypothesis inside CPython 3.11's parser ("AST constructor recursion depth mismatch").
                "--workers",
                "1",
                "--request-timeout",
                "300",
                "--seed",
                "20261122",
            ],
            capture_output=True,
            text=True,
            timeout=3000,  # a hang, never a slow machine: 5 examples per operation, each within 90 s
            check=False,
        )

    assert run.returncode == 0, run.stdout[-6000:]
    assert "passed" in run.stdout
