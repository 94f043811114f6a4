"""POST /api/v2/flexible-chat-mm and /api/v2/flexible-rag-mm (seed 001 section 2): every
validation rule, and what the model and the history store receive."""

from __future__ import annotations

import base64
import json

import pytest

from shared.wire.flexible_requests import MAX_IMAGE_BYTES
from tests.recording_server import RecordingServer
from tests.support import completion, remote_model_entry

CHAT_MM = "/api/v2/flexible-chat-mm"
RAG_MM = "/api/v2/flexible-rag-mm"
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64)).decode()


@pytest.fixture
def vision_model(configure):
    """A multimodal remote model (a recording server) as the default, beside the embedded one."""
    with RecordingServer(lambda request: (200, completion("A bicycle frame [1]."))) as server:
        models = [remote_model_entry(server, "vision", supports_multimodal=True)]
        configure(LLM_MODELS=json.dumps(models), LLM_DEFAULT_ALIAS="vision")
        yield server


@pytest.mark.parametrize("url", [CHAT_MM, RAG_MM])
async def test_images_go_to_the_model_with_the_latest_question_only(client, vision_model, configure, tmp_path, url):
    configure(HISTORY_SQLITE_PATH=str(tmp_path / "history.sqlite"))
    body = {
        "question": "What is in this picture?",
        "history": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi."}],
        "metadata": {
            "images": [{"url": "https://example.com/frame.png", "detail": "high"}, {"data_url": PNG}],
            "ticket": "T-1",
        },
        "ab_testing": {"user_id": "alice", "session_id": "pics"},
    }

    response = await client.post(url, json=body)
    data = response.json()

    assert response.status_code == 200, response.text
    messages = vision_model.requests[-1].body["messages"]  # after the query rewrite, for chat
    assert messages[1] == {"role": "user", "content": "Hello"}  # earlier turns: text only
    assert messages[-1]["content"] == [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/frame.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": PNG}},
    ]
    assert data["answer"] == "A bicycle frame [1]."
    assert data["retrieval"] == {"attempted": True, "skipped_reason": None, "fetch_args_present": False}
    assert data["metadata"]  # sources were retrieved for the question

    # Neither the response nor the history store holds the inline image's bytes.
    assert PNG.split(",")[1] not in response.text
    stored = (await client.get("/api/v2/sessions/pics", params={"user_id": "alice"})).json()["messages"]
    question_images = stored[0]["images"]
    assert question_images[0] == {"url": "https://example.com/frame.png", "detail": "high", "note": None}
    assert question_images[1]["url"] is None and question_images[1]["note"].startswith("image/png, 72 bytes")
    assert data["response_metadata"]["request_metadata"]["ticket"] == "T-1"


async def test_rag_mm_reports_a_skipped_knowledge_base(client, vision_model):
    body = {"question": "Describe it.", "skip_knowledge_base": True, "metadata": {"images": [{"data_url": PNG}]}}
    data = (await client.post(RAG_MM, json=body)).json()

    assert data["retrieval"] == {
        "attempted": False,
        "skipped_reason": "skip_knowledge_base",
        "fetch_args_present": False,
    }
    assert data["metadata"] == [] and data["queried_indexes"] == []


async def test_top_k_zero_skips_retrieval_and_says_so(client, vision_model):
    body = {
        "question": "Describe it.",
        "fetch_args": {"AzureSearchFetcher": {"top_k": 0}},
        "metadata": {"images": [{"data_url": PNG}]},
    }
    data = (await client.post(CHAT_MM, json=body)).json()

    assert data["retrieval"] == {"attempted": False, "skipped_reason": "top_k_zero", "fetch_args_present": True}
    assert data["metadata"] == []


@pytest.mark.parametrize("url", [CHAT_MM, RAG_MM])
async def test_at_least_one_image_is_required(client, url):
    for metadata in ({}, {"images": []}):
        response = await client.post(url, json={"question": "What is this?", "metadata": metadata})

        assert response.status_code == 400
        assert "at least one image" in response.json()["detail"]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"url": "http://example.com/a.png"}, "https"),
        ({"url": "file:///etc/passwd"}, "https"),
        ({"data_url": "data:text/html;base64,PGgxPg=="}, "data:image/"),
        ({"data_url": "data:image/png;base64,not base64!"}, "data:image/"),
        ({"data_url": "data:image/png;base64,A"}, "data:image/"),  # does not decode: not a 500
        ({"data_url": "data:image/png;base64,AAA"}, "data:image/"),
        ({"url": "https://example.com/a.png", "data_url": PNG}, "exactly one"),
        ({}, "exactly one"),
        ({"url": "https://example.com/a.png", "detail": "ultra"}, "low"),
    ],
)
async def test_images_are_validated(client, image, message):
    response = await client.post(CHAT_MM, json={"question": "What is this?", "metadata": {"images": [image]}})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][:4] == ["body", "metadata", "images", 0]
    assert message in error["msg"]


async def test_an_inline_image_over_the_limit_is_a_413(client, vision_model):
    big = "data:image/png;base64," + base64.b64encode(bytes(MAX_IMAGE_BYTES + 1)).decode()
    response = await client.post(
        CHAT_MM, json={"question": "What is this?", "metadata": {"images": [{"data_url": big}]}}
    )

    assert response.status_code == 413
    assert "5 MB" in response.json()["detail"]
    assert vision_model.requests == []


async def test_a_model_without_image_support_is_a_400_naming_models_that_have_it(client, vision_model):
    body = {
        "question": "What is this?",
        "metadata": {"images": [{"data_url": PNG}]},
        "override_config": {"llm": "smollm2"},
    }
    response = await client.post(CHAT_MM, json=body)

    assert response.status_code == 400
    assert "does not take images" in response.json()["detail"]
    assert response.json()["try_models"] == ["vision"]
    assert vision_model.requests == []


async def test_the_models_endpoint_says_which_models_take_images(client, vision_model):
    models = (await client.get("/api/v2/models")).json()["models"]

    assert {m["alias"]: m["supports_multimodal"] for m in models} == {"smollm2": False, "vision": True}
