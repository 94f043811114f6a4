"""Prompt templates from prompts/ and from Blob Storage (Azurite, real SDK), and response templates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import httpx
import pytest
from azure.storage.blob.aio import BlobServiceClient

from devtools.servers import running_in_background
from shared import backends
from shared.config import PROJECT_ROOT
from shared.core.errors import RequestError
from shared.core.orchestrator import FALLBACK_ANSWER, Orchestrator
from shared.templates.blob import BlobTemplateSource
from shared.templates.upload import upload
from tests.support import make_orchestrator

URL = "/api/v2/flexible-rag"
NO_SEARCH = {"skip_knowledge_base": True, "override_config": {"params": {"max_tokens": 4}}}


@pytest.fixture
async def container(azurite):
    """A fresh container; the client records the status of every response it receives."""
    statuses: list[int] = []
    service = BlobServiceClient.from_connection_string(
        azurite, raw_response_hook=lambda response: statuses.append(response.http_response.status_code)
    )
    async with service:
        client = service.get_container_client(f"prompts-{uuid.uuid4().hex[:12]}")
        client.statuses = statuses
        yield client


def orchestrator_with(templates) -> Orchestrator:
    return make_orchestrator(templates=templates)


async def test_upload_sends_only_changed_files(container, tmp_path):
    folder = tmp_path / "prompts"
    shutil.copytree(PROJECT_ROOT / "prompts", folder)
    (folder / ".hidden").write_text("never uploaded")

    first = await upload(container, folder, prefix="v1")
    second = await upload(container, folder, prefix="v1")
    (folder / "response.jinja2").write_text("Answer: {{ answer }}")
    third = await upload(container, folder, prefix="v1")

    assert sorted(first.uploaded) == ["v1/query_rewrite.jinja2", "v1/rag_system.jinja2", "v1/response.jinja2"]
    assert second.uploaded == [] and len(second.unchanged) == 3
    assert third.uploaded == ["v1/response.jinja2"]
    blob = await container.download_blob("v1/response.jinja2")
    assert await blob.readall() == b"Answer: {{ answer }}"


async def test_blob_templates_are_downloaded_once_and_revalidated_by_etag(container, tmp_path):
    (tmp_path / "greeting.jinja2").write_text("Hello {{ user_id }}")
    await upload(container, tmp_path)
    source = BlobTemplateSource(container)

    container.statuses.clear()
    assert await source.load("greeting.jinja2") == ("Hello {{ user_id }}", "blob:greeting.jinja2")
    assert await source.load("greeting.jinja2") == ("Hello {{ user_id }}", "blob:greeting.jinja2")
    # The SDK downloads with a ranged GET (206); revalidation gets a 304 without a body.
    assert container.statuses == [206, 304]

    (tmp_path / "greeting.jinja2").write_text("Hi {{ user_id }}")
    await upload(container, tmp_path)
    container.statuses.clear()
    assert await source.load("greeting.jinja2") == ("Hi {{ user_id }}", "blob:greeting.jinja2")
    assert container.statuses == [206]


async def test_blob_prefix_is_a_folder_inside_the_container(container, tmp_path):
    (tmp_path / "a.jinja2").write_text("in v2")
    await upload(container, tmp_path, prefix="/v2/")

    assert await BlobTemplateSource(container, prefix="v2").load("a.jinja2") == ("in v2", "blob:a.jinja2")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../a.jinja2", "must be a relative path"),
        ("/a.jinja2", "must be a relative path"),
        ("missing.jinja2", "template 'missing.jinja2' was not found"),
        (".", "names no file"),
        ("x" * 5000, "at most 255 characters; this one has 5000"),
    ],
)
async def test_blob_source_refusals(container, tmp_path, name, message):
    (tmp_path / "a.jinja2").write_text("x")
    await upload(container, tmp_path, prefix="v2")

    with pytest.raises(RequestError, match=message):
        await BlobTemplateSource(container, prefix="v2").load(name)


async def test_system_prompt_file_renders_the_same_from_blob_and_from_prompts(client, container, monkeypatch):
    await upload(container, PROJECT_ROOT / "prompts")
    request = {"question": "Hi", "system_prompt_file": "rag_system.jinja2", **NO_SEARCH}

    from_files = (await client.post(URL, json=request)).json()
    monkeypatch.setattr(backends, "orchestrator", lambda: orchestrator_with(BlobTemplateSource(container)))
    from_blob = (await client.post(URL, json=request)).json()

    assert from_files["template_info"]["system_prompt_source"] == "file:rag_system.jinja2"
    assert from_blob["template_info"]["system_prompt_source"] == "blob:rag_system.jinja2"
    assert from_blob["response_metadata"]["system_prompt"] == from_files["response_metadata"]["system_prompt"]
    assert from_blob["response_metadata"]["system_prompt"].startswith("You are a helpful assistant.")


async def test_an_unreachable_template_store_gives_the_fallback(client, monkeypatch, caplog):
    async with BlobServiceClient("http://127.0.0.1:9/devstoreaccount1", retry_total=0) as unreachable:
        source = BlobTemplateSource(unreachable.get_container_client("prompts"))
        monkeypatch.setattr(backends, "orchestrator", lambda: orchestrator_with(source))

        response = await client.post(URL, json={"question": "What is the Zephyr?"})

    body = response.json()
    assert response.status_code == 200
    assert body["answer"] == FALLBACK_ANSWER
    assert body["errors"][0] == {
        "stage": "prompt",
        "code": "template_store_failed",
        "message": "The prompt template store could not be read.",
    }
    assert body["metadata"] == []  # nothing searched or generated without a prompt
    assert "template store failed" in caplog.text


# --- response templates ---


async def test_inline_response_template_shapes_the_answer(client):
    response = await client.post(
        URL,
        json={
            "question": "Who founded Brightwheel?",
            "response_template": "Answer: {{ answer }}\nSources: {{ sources | length }} ({{ tone }})",
            "template_variables": {"tone": "brief"},
            "fetch_args": {"AzureSearchFetcher": {"top_k": 2}},
            "override_config": {"params": {"max_tokens": 6}},
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert body["answer"].startswith("Answer: ")
    assert body["answer"].endswith("\nSources: 2 (brief)")
    assert body["history"][-1]["content"] == body["answer"]
    assert body["template_info"]["response_template_source"] == "inline"
    assert body["template_info"]["system_prompt_source"] == "default"
    assert {"answer", "sources", "tone"} <= set(body["template_info"]["template_variables_used"])
    assert body["response_metadata"]["custom_templates_used"] is True


async def test_response_template_file_comes_from_the_template_source(client):
    response = await client.post(URL, json={"question": "Hi", "response_template_file": "response.jinja2", **NO_SEARCH})

    body = response.json()
    assert body["template_info"]["response_template_source"] == "file:response.jinja2"
    assert body["answer"] and body["answer"] == body["history"][-1]["content"]


@pytest.mark.parametrize(
    ("extra", "status", "message"),
    [
        ({"response_template": "{{ answer.__class__ }}"}, 400, "refused by the sandbox"),
        ({"response_template": "{% for %}"}, 400, "template inline has a syntax error on line 1"),
        ({"response_template_file": "../etc/passwd"}, 400, "must be a relative path"),
        ({"response_template_file": "nope.jinja2"}, 400, "template 'nope.jinja2' was not found"),
        ({"response_template": "a", "response_template_file": "response.jinja2"}, 422, "not both"),
    ],
)
async def test_response_template_refusals(client, extra, status, message):
    response = await client.post(URL, json={"question": "Hi", **NO_SEARCH, **extra})

    assert response.status_code == status
    assert message in str(response.json()["detail"])


async def test_a_template_that_cannot_load_or_parse_fails_before_the_model_runs(client, monkeypatch):
    calls = []

    class RecordingModel:
        info = backends.chat_model().info
        default_parameters = {}

        def check_params(self, params):
            pass

        async def complete(self, messages, params):
            calls.append(messages)

    orchestrator = orchestrator_with(backends.template_source())
    orchestrator._chat_model = lambda alias: RecordingModel()
    monkeypatch.setattr(backends, "orchestrator", lambda: orchestrator)

    for bad in ({"response_template": "{% if %}"}, {"response_template_file": "missing.jinja2"}):
        response = await client.post(URL, json={"question": "Hi", **bad})
        assert response.status_code == 400

    assert calls == []


def test_blob_backend_configured_by_settings_end_to_end(azurite, sample_index):
    """The upload command and the server, configured only by environment, against Azurite."""
    settings = {"PROMPTS_BLOB_CONNECTION_STRING": azurite, "PROMPTS_BLOB_CONTAINER": "e2e-prompts"}
    command = [sys.executable, "-m", "shared.templates.upload"]
    env = {**os.environ, **settings}

    first = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    again = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)

    assert "3 template(s) uploaded, 0 unchanged" in first.stderr, first.stderr
    assert "0 template(s) uploaded, 3 unchanged" in again.stderr, again.stderr
    assert azurite.split("AccountKey=")[1].split(";")[0] not in first.stderr + again.stderr

    with running_in_background(env={**settings, "PROMPTS_BACKEND": "blob"}) as base_url:
        response = httpx.post(
            f"{base_url}{URL}",
            json={"question": "Hi", "system_prompt_file": "rag_system.jinja2", **NO_SEARCH},
            timeout=60,
        )

    body = response.json()
    assert response.status_code == 200, body
    assert body["template_info"]["system_prompt_source"] == "blob:rag_system.jinja2"
    assert body["response_metadata"]["system_prompt"].startswith("You are a helpful assistant.")
