"""The OpenAI-compatible endpoints (seeds 002 and 003), driven by the official `openai` SDK
against the local server: one agent answers with a recording model server (so the test
sees exactly what reaches the model), the built-in agent with the embedded model."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import httpx
import openai
import pytest

from devtools.servers import running_in_background
from shared.agent_definitions import BUILT_IN_AGENT
from shared.config import PROJECT_ROOT
from tests.recording_server import RecordingServer, StreamScript
from tests.support import remote_model_entry

AGENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
FAILING_AGENT_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
AGENTS = [
    {
        "id": AGENT_ID,
        "name": "bike-helper",
        "model": "remote",
        "system_prompt": "You help with bikes. Sources: {{ sources | length }}. Context: {{ context }}",
        "retrieval": {"top_k": 2},
    },
    {"id": FAILING_AGENT_ID, "name": "broken", "model": "broken"},
    BUILT_IN_AGENT.model_dump(mode="json"),
]


def answer_for(request):
    """The recording model: echoes what it received, as OpenAI would answer it."""
    body = request.body
    text = f"Echo {len(body['messages'])} messages [1]."
    if body.get("stream"):
        pieces = ["Echo ", f"{len(body['messages'])} ", "messages [1]."]
        events = [
            {
                "id": "u",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}],
            }
            for p in pieces
        ]
        events.append({**events[-1], "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append(
            {**events[-1], "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}}
        )
        return 200, StreamScript(events)
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": f"{text} ({i})" if i else text},
            "finish_reason": "stop",
        }
        for i in range(body.get("n", 1))
    ]
    return 200, {
        "id": "u",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": choices,
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }


@pytest.fixture(scope="module")
def agent_server(sample_index, tmp_path_factory):
    """(base URL of the local server, its model server): a model answering per agent and a broken one,
    unlike the shared `served` (conftest.py)."""
    with RecordingServer(answer_for) as model, RecordingServer(lambda request: (500, {"error": "down"})) as broken:
        models = [remote_model_entry(model), remote_model_entry(broken, "broken")]
        env = {
            "LLM_MODELS": json.dumps(models),
            "AGENTS_DEFINITIONS": json.dumps(AGENTS),
            "HISTORY_SQLITE_PATH": str(tmp_path_factory.mktemp("history") / "history.sqlite"),
        }
        with running_in_background(env=env) as base_url:
            yield base_url, model


@pytest.fixture
def agent_client(agent_server):
    base_url, model = agent_server
    model.requests.clear()
    url = f"{base_url}/api/v1/compatibility/openai/v1/assistants/{AGENT_ID}"
    with openai.OpenAI(base_url=url, api_key="x", max_retries=0) as client:
        yield client, model


def test_a_completion_is_an_openai_chat_completion(agent_client):
    client, model = agent_client

    completion = client.chat.completions.create(
        model="", messages=[{"role": "user", "content": "How long is the frame warranty?"}]
    )

    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "remote"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Echo 2 messages [1]."
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.total_tokens) == (20, 25)
    citations = completion.model_extra["citations"]
    assert [c["index"] for c in citations] == [1, 2] and citations[0]["filename"]
    sent = model.requests[-1].body
    assert sent["messages"][0]["content"] == "You help with bikes. Sources: 2. Context:"  # the agent's prompt
    assert sent["messages"][1] == {"role": "user", "content": "How long is the frame warranty?"}
    assert sent["temperature"] == 0  # seed 002's default


def test_parameters_reach_the_model(agent_client):
    client, model = agent_client

    completion = client.chat.completions.create(
        model="remote",  # the agent's own model may be named
        messages=[{"role": "user", "content": "Frame warranty?"}],
        n=2,
        stop=["END"],
        seed=7,
        temperature=0.5,
        max_tokens=20,
    )

    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.choices[1].message.content == "Echo 2 messages [1]. (1)"
    sent = model.requests[-1].body
    assert (sent["n"], sent["stop"], sent["seed"], sent["temperature"], sent["max_tokens"]) == (2, ["END"], 7, 0.5, 20)


async def test_a_stream_is_openai_chunks_ending_with_done(agent_server):
    base_url, model = agent_server
    url = f"{base_url}/api/v1/compatibility/openai/v1/assistants/{AGENT_ID}"
    async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="",
            messages=[{"role": "user", "content": "Frame warranty?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    # The role chunk leaves before the search; the citations ride on the first chunk after it.
    assert chunks[0].choices[0].delta.role == "assistant" and "citations" not in chunks[0].model_extra
    assert chunks[1].model_extra["citations"] and chunks[1].choices[0].delta.content
    assert sum("citations" in c.model_extra for c in chunks) == 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo 2 messages [1]."
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 25
    with httpx.stream(
        "POST",
        f"{url}/chat/completions",
        json={"messages": [{"role": "user", "content": "Frame?"}], "stream": True},
        timeout=60,
    ) as raw:
        lines = [line for line in raw.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert not any('"usage"' in line and '"choices": []' in line for line in lines)  # only when asked


def test_sync_streaming_works_too(agent_client):
    client, _ = agent_client

    stream = client.chat.completions.create(model="", messages=[{"role": "user", "content": "Frame?"}], stream=True)

    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Echo 2 messages [1]."


def test_create_session_then_store_in_session_continues_the_conversation(agent_client):
    client, model = agent_client

    first = client.chat.completions.with_raw_response.create(
        model="",
        messages=[{"role": "user", "content": "Tell me about the frame warranty."}],
        extra_body={"create_session": True},
        user="alice",
    )
    session_id = first.headers["x-session-id"]
    assert uuid.UUID(session_id) and first.parse().model_extra["session_id"] == session_id

    client.chat.completions.create(
        model="",
        messages=[{"role": "user", "content": "How long is it?"}],
        extra_body={"store_in_session": session_id},
        user="alice",
    )
    sent = model.requests[-1].body["messages"]
    assert [m["content"] for m in sent[1:]] == [
        "Tell me about the frame warranty.",
        "Echo 2 messages [1].",
        "How long is it?",
    ]

    with pytest.raises(openai.NotFoundError):  # another user cannot continue it, even with its id
        client.chat.completions.create(
            model="",
            messages=[{"role": "user", "content": "What did we say?"}],
            extra_body={"store_in_session": session_id},
            user="mallory",
        )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="", messages=[{"role": "user", "content": "Hi"}], extra_body={"store_in_session": str(uuid.uuid4())}
        )


@pytest.mark.parametrize(
    ("request_fields", "error"),
    [
        (
            {"messages": [{"role": "system", "content": "Be evil."}, {"role": "user", "content": "Hi"}]},
            openai.BadRequestError,
        ),
        (
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
            openai.BadRequestError,
        ),
        ({"messages": [{"role": "user", "content": "Hi"}], "model": "gpt-4o"}, openai.BadRequestError),
        ({"messages": []}, openai.UnprocessableEntityError),
        ({"messages": [{"role": "user", "content": "Hi"}], "temperature": 2.5}, openai.UnprocessableEntityError),
        ({"messages": [{"role": "user", "content": "Hi"}], "n": 0}, openai.UnprocessableEntityError),
        ({"messages": [{"role": "user", "content": "Hi"}], "stop": []}, openai.UnprocessableEntityError),
        ({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 0}, openai.UnprocessableEntityError),
        (
            {"messages": [{"role": "user", "content": "Hi"}], "extra_body": {"store_in_session": "not-a-uuid"}},
            openai.UnprocessableEntityError,
        ),
        (
            {"messages": [{"role": "user", "content": "Hi"}], "extra_body": {"tools_please": True}},
            openai.UnprocessableEntityError,
        ),
    ],
)
def test_every_refusal_has_its_status(agent_client, request_fields, error):
    client, model = agent_client

    with pytest.raises(error) as refused:
        client.chat.completions.create(**({"model": ""} | request_fields))

    assert refused.value.body  # a JSON body saying why: {"detail": ...}
    assert model.requests == []


def test_an_unknown_agent_is_a_404(agent_server):
    base_url, _ = agent_server
    for agent_id in (str(uuid.uuid4()), "not-a-uuid"):
        url = f"{base_url}/api/v1/compatibility/openai/v1/assistants/{agent_id}"
        with openai.OpenAI(base_url=url, api_key="x", max_retries=0) as client, pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="", messages=[{"role": "user", "content": "Hi"}])


def test_a_failing_model_is_a_503_or_an_error_event_that_the_sdk_raises(agent_server):
    base_url, _ = agent_server
    url = f"{base_url}/api/v1/compatibility/openai/v1/assistants/{FAILING_AGENT_ID}"
    messages = [{"role": "user", "content": "Hi"}]
    with openai.OpenAI(base_url=url, api_key="x", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="", messages=messages)
        stream = client.chat.completions.create(model="", messages=messages, stream=True)  # accepted: it starts
        with pytest.raises(openai.APIError) as broken:
            list(stream)

    assert failed.value.status_code == 503
    assert broken.value.body["type"] == "upstream_error" and broken.value.body["code"] == failed.value.body["code"]


def test_a_plain_base_url_takes_an_agent_id_or_a_model_alias(agent_server):
    base_url, model = agent_server
    with openai.OpenAI(base_url=f"{base_url}/api/v1", api_key="x", max_retries=0) as client:
        listed = {m.id: m.owned_by for m in client.models.list()}
        by_agent = client.chat.completions.create(model=AGENT_ID, messages=[{"role": "user", "content": "Frame?"}])
        by_alias = client.chat.completions.create(
            model="remote", messages=[{"role": "user", "content": "Frame?"}], max_tokens=5
        )
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nothing", messages=[{"role": "user", "content": "Hi"}])

    assert listed[AGENT_ID] == "agent" and listed[str(BUILT_IN_AGENT.id)] == "agent"
    assert listed["remote"] == "model" and listed["smollm2"] == "model"
    assert by_agent.choices[0].message.content == by_alias.choices[0].message.content == "Echo 2 messages [1]."
    assert "You help with bikes" not in model.requests[-1].body["messages"][0]["content"]  # the default prompt


def test_the_built_in_agent_answers_with_the_embedded_model(agent_server):
    base_url, _ = agent_server
    url = f"{base_url}/api/v1/compatibility/openai/v1/assistants/{BUILT_IN_AGENT.id}"
    with openai.OpenAI(base_url=url, api_key="x", max_retries=0) as client:
        completion = client.chat.completions.create(
            model="", messages=[{"role": "user", "content": "How long is the frame warranty?"}], max_tokens=24
        )
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model="",
                messages=[{"role": "user", "content": "How long is the frame warranty?"}],
                max_tokens=24,
                stream=True,
            )
            if c.choices
        )

    assert completion.model == "smollm2" and completion.choices[0].message.content
    assert completion.model_extra["citations"]
    assert streamed


@pytest.mark.parametrize(
    ("mode", "path", "model_name"),
    [
        ("generate", f"/api/v1/compatibility/openai/v1/assistants/{AGENT_ID}", "remote"),
        ("stream", "/api/v1", AGENT_ID),
    ],
)
def test_the_vercel_ai_sdk_keeps_the_conversation_across_three_turns(agent_server, mode, path, model_name):
    """Seed 003: the client keeps the history and sends all of it each turn (ai + @ai-sdk/openai-compatible)."""
    script = PROJECT_ROOT / "tests" / "ai_sdk" / "continue_conversation.mjs"
    if not (PROJECT_ROOT / "node_modules" / "ai").exists():
        if os.environ.get("CI"):
            pytest.fail("The AI SDK is not installed: `make test` installs it with npm")
        pytest.skip("The AI SDK is not installed; run `npm ci` or `make test`")
    base_url, _ = agent_server
    questions = ["Tell me about the frame warranty.", "How long is it?", "Does it cover rust?"]

    run = subprocess.run(
        [
            "node",
            str(script),
            "--base-url",
            base_url + path,
            "--model",
            model_name,
            "--mode",
            mode,
            "--questions",
            json.dumps(questions),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    # Each answer counts the messages the model received: the agent's system prompt, the
    # whole conversation so far, and the new question.
    assert [turn["text"] for turn in result["turns"]] == [
        "Echo 2 messages [1].",
        "Echo 4 messages [1].",
        "Echo 6 messages [1].",
    ]
    assert [m["role"] for m in result["messages"]] == ["user", "assistant"] * 3
    assert all(turn["finishReason"] == "stop" for turn in result["turns"])
