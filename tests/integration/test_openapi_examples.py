"""The reference's example requests: each request body in the OpenAPI document has one, it is a
valid request of its model, and sent as it is (what try-it-out does) it is answered 200."""

from __future__ import annotations

import re

import pytest

from shared.wire.examples import EXAMPLES

# Swagger UI accepts what the operation documents; the MCP endpoint wants both.
ACCEPT = {"accept": "application/json, text/event-stream"}


@pytest.fixture
async def document(client):
    return (await client.get("/api/openapi.json")).json()


def _bodies(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield path, method, content["application/json"]


async def test_every_json_request_body_has_an_example_of_its_model(document):
    bodies = list(_bodies(document))
    assert len(bodies) >= 10
    for path, method, content in bodies:
        assert "example" in content, (method, path)
        name = content["schema"]["$ref"].rsplit("/", 1)[-1]
        assert content["example"] == EXAMPLES[name]
    assert "string" not in str([c["example"] for _, _, c in bodies])  # no placeholder left


async def test_the_examples_are_answered_as_sent(client, document, configure):
    configure(LLM_ANSWER_STRATEGY="extractive")  # the answer's words are not what is checked: keep it quick
    sent = []
    for path, method, content in _bodies(document):
        if re.search(r"{\w+}", path):
            continue  # a path parameter (a session, an agent) is the caller's to fill in
        response = await client.request(method, path, json=content["example"], headers=ACCEPT)
        if path.endswith("-mm"):
            # Valid as sent; the embedded model reads no images, a deployment's vision model does.
            assert response.status_code == 400 and "does not take images" in response.json()["detail"], path
            continue
        sent.append((path, response.status_code, response.text[:200]))
    assert [s for s in sent if s[1] != 200] == []
    sent = [s[0] for s in sent]
    assert {"/api/v2/flexible-rag", "/api/v2/flexible-chat", "/api/v1/chat/completions", "/api/mcp"} <= set(sent)
