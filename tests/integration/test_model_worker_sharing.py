"""Fair use of the embedded model's worker (docs/parameters.md, "Sharing the worker"): callers
served in turn, a request whose client left cancelled, streamed or not, and JSON schemas that
would crash or hold the worker refused before they reach llama.cpp. Orders and progress are
asserted, never durations."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from shared import backends, fair_share
from shared.core.types import GenerationParams, Message
from tests.integration.test_embedded_runtime import embedded_model, wait_for
from tests.support import json_post_scope

STORY = [Message("user", "Write a long story about a lighthouse.")]
RAG = "/api/v2/flexible-rag"
PATIENCE = 6000  # polls of 20 ms: a loaded machine may take a while to begin a generation


async def test_a_cheap_request_goes_before_the_rest_of_another_callers_queue():
    model = embedded_model()
    await model.start()
    order: list[str] = []

    async def ask(caller: str, name: str, max_tokens: int) -> None:
        fair_share.caller.set(caller)  # this task's own context
        await model.complete(STORY, GenerationParams(max_tokens=max_tokens, temperature=0.8))
        order.append(name)

    heavy = [asyncio.create_task(ask("a", f"a{i}", 12)) for i in range(3)]
    await wait_for(lambda: model.worker.generating and model.worker.waiting.get("a") == 2, "a's queue forms", PATIENCE)
    cheap = asyncio.create_task(ask("b", "b", 2))
    await asyncio.gather(*heavy, cheap)

    assert order[1] == "b"  # after the completion on the worker, before a's two waiting ones
    assert sorted(order) == ["a0", "a1", "a2", "b"]


async def test_another_caller_is_answered_between_the_completions_of_n(client):
    """n = 3 is three turns at the worker: another caller's request is served before the last."""
    model = embedded_model()
    await model.start()

    def body(user: str, n: int, max_tokens: int) -> dict:
        params = {"n": n, "max_tokens": max_tokens, "temperature": 0.8, "seed": 1}
        question = "Write a long story about a lighthouse."
        return {"question": question, "skip_knowledge_base": True, "ab_testing": {"user_id": user}} | {
            "override_config": {"params": params}
        }

    heavy = asyncio.create_task(client.post(RAG, json=body("heavy", 3, 12)))
    await wait_for(lambda: model.worker.generating, "the heavy request's first completion runs", PATIENCE)
    cheap = await client.post(RAG, json=body("cheap", 1, 2))

    assert cheap.status_code == 200 and cheap.json()["answer"]
    assert not heavy.done()  # answered while the heavy request still had completions to go
    assert len((await heavy).json()["answers"]) == 3


async def test_a_non_streaming_request_whose_client_left_is_cancelled(asgi_app, sample_index):
    model = embedded_model()
    await model.start()
    stops = len(model.worker.stats.stop_seconds)
    body = {"question": "Write a long essay about bridges.", "skip_knowledge_base": True}
    body["override_config"] = {"params": {"max_tokens": 2000}}
    left, sent = asyncio.Event(), []

    async def receive():
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    responses: list[dict] = []

    async def send(message):
        responses.append(message)

    scope = json_post_scope(RAG)
    request = asyncio.create_task(asgi_app(scope, receive, send))
    await wait_for(lambda: model.worker.generating, "the worker begins the request", PATIENCE)
    left.set()  # the client goes away
    await request

    await wait_for(lambda: len(model.worker.stats.stop_seconds) > stops, "the generation stops", PATIENCE)
    assert not model.worker.in_flight
    assert next(m["status"] for m in responses if m["type"] == "http.response.start") == 499


def schema_format(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


@pytest.mark.parametrize(
    ("schema", "limit"),
    [
        ({"type": "array", "items": {"type": "string"}, "maxItems": 10_000_000}, "maxItems 10000000"),
        ({"type": "array", "items": {"type": "string"}, "minItems": 1_000_000}, "minItems 1000000"),
        ({"type": "string", "enum": [f"value {i}" for i in range(50_000)]}, "characters of JSON"),
        ({"type": "string", "enum": [str(i) for i in range(300)]}, "256 enum and const values"),
        ({"type": "string", "maxLength": 100_000}, "maxLength 100000"),
        ({"type": "string", "pattern": "^a{0,99999}$"}, "pattern repeating 99999 times"),
        ({"$ref": "https://example.com/schema.json"}, "$ref outside the schema"),
        (json.loads('{"type": "array", "items": ' * 40 + '{"type": "string"}' + "}" * 40), "nests deeper than 32"),
    ],
    ids=["maxItems", "minItems", "enum-50000", "enum-300", "maxLength", "pattern", "remote-ref", "depth"],
)
async def test_a_json_schema_past_a_limit_is_refused_before_the_worker(sdk, schema, limit):
    model = embedded_model()
    await model.start()
    crashes, pid = model.worker.stats.crashes, model.worker.pid

    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(
            model=model.info.alias,
            messages=[{"role": "user", "content": "List the parts."}],
            response_format=schema_format(schema),
        )
    cheap = await model.complete([Message("user", "Say hi.")], GenerationParams(max_tokens=1))

    assert limit in refused.value.body["detail"]
    assert cheap.text  # the worker answers the next request at once
    assert (model.worker.stats.crashes, model.worker.pid) == (crashes, pid)  # the worker never saw it


async def test_a_json_schema_at_the_limits_is_answered_with_json(sdk):
    schema = {
        "type": "object",
        "properties": {
            "parts": {"type": "array", "items": {"type": "string", "maxLength": 256}, "maxItems": 256},
            "kind": {"enum": [f"kind {i}" for i in range(200)]},
        },
        "required": ["kind"],
    }
    completion = await sdk.chat.completions.create(
        model=backends.chat_model().info.alias,
        messages=[{"role": "user", "content": "Which parts does the warranty cover?"}],
        response_format=schema_format(schema),
        max_tokens=8,
    )

    assert isinstance(json.loads(completion.choices[0].message.content), dict)


async def test_the_responses_api_refuses_a_schema_past_a_limit(client):
    text = {"format": {"type": "json_schema", "name": "x", "schema": {"type": "array", "maxItems": 10_000_000}}}
    response = await client.post("/api/v1/responses", json={"input": "List the parts.", "text": text})

    assert response.status_code == 400 and "maxItems 10000000" in response.json()["detail"]
