"""Chat completions beyond plain chat, driven by the official openai SDK against the local
server: the client's system messages, tools (a whole round trip, streamed too), structured
output, models.retrieve, the Azure OpenAI route shape, refusals that say why, and model
replies that cannot be read. A scripted model server checks exactly what is forwarded."""

from __future__ import annotations

import json

import httpx
import openai
import pydantic
import pytest

from tests.openai_scripted_model import (
    STRUCTURED,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    WARRANTY_TOOL,
    openai_client,
)

AGENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
AGENTS = [{"id": AGENT_ID, "name": "bike-helper", "model": "remote", "system_prompt": "You help with bikes."}]


SERVER_SETTINGS = {"AGENTS_DEFINITIONS": json.dumps(AGENTS)}  # of the shared `served` server


@pytest.fixture
def client(served):
    with openai_client(served) as pair:
        yield pair


def test_system_and_developer_messages_are_the_clients_instructions(client):
    client, model = client

    client.chat.completions.create(
        model="remote",
        messages=[
            {"role": "system", "content": "You are a friendly assistant!"},
            {"role": "developer", "content": "Answer in one sentence."},
            {"role": "user", "content": "How long is the frame warranty?"},
        ],
    )
    client.chat.completions.create(
        model=AGENT_ID,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Frame warranty?"}],
    )

    by_alias, by_agent = (r.body["messages"] for r in model.requests)
    # The default prompt opens with them, then keeps its citation rules and the sources.
    assert by_alias[0]["content"].startswith("You are a friendly assistant!\n\nAnswer in one sentence.\n")
    assert "Cite each fact" in by_alias[0]["content"] and "Sources:" in by_alias[0]["content"]
    assert [m["role"] for m in by_alias] == ["system", "user"]
    # An agent's own prompt comes first, the client's instructions after it.
    assert by_agent[0] == {"role": "system", "content": "You help with bikes.\n\nBe brief."}


def test_a_tool_round_trip_reaches_the_model_intact(client):
    client, model = client
    question = {"role": "user", "content": "How long is the frame warranty?"}

    first = client.chat.completions.create(
        model="remote", messages=[question], tools=[WARRANTY_TOOL], tool_choice="auto", parallel_tool_calls=False
    )
    call = first.choices[0].message.tool_calls[0]
    second = client.chat.completions.create(
        model="remote",
        messages=[
            question,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"years": 10})},
        ],
        tools=[WARRANTY_TOOL],
    )

    assert first.choices[0].finish_reason == "tool_calls" and first.choices[0].message.content is None
    assert (call.id, call.type, call.function.name, call.function.arguments) == (
        "call_1",
        "function",
        TOOL_NAME,
        TOOL_ARGUMENTS,
    )
    sent_first, sent_second = (r.body for r in model.requests[-2:])
    assert sent_first["tools"] == [WARRANTY_TOOL]
    assert (sent_first["tool_choice"], sent_first["parallel_tool_calls"]) == ("auto", False)
    assert sent_second["messages"][-2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}}
        ],
    }
    assert sent_second["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": '{"years": 10}'}
    assert sent_second["messages"][-3] == question  # the question, searched again: same sources, same prompt
    assert sent_second["messages"][0] == sent_first["messages"][0]
    assert second.choices[0].message.content == "The frame warranty is 10 years [1]."
    assert second.model_extra["citations"]


def test_streamed_tool_calls_carry_their_argument_deltas(client):
    client, _ = client

    chunks = list(
        client.chat.completions.create(
            model="remote",
            messages=[{"role": "user", "content": "Frame warranty?"}],
            tools=[WARRANTY_TOOL],
            stream=True,
        )
    )

    calls = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert (calls[0].index, calls[0].id, calls[0].type, calls[0].function.name) == (0, "call_1", "function", TOOL_NAME)
    assert [c.id for c in calls[1:]] == [None] and calls[1].function.name is None
    assert "".join(c.function.arguments for c in calls) == TOOL_ARGUMENTS and len(calls) == 2
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_structured_output_passes_the_schema_through(client):
    class Warranty(pydantic.BaseModel):
        part: str
        years: int

    client, model = client

    parsed = client.chat.completions.parse(
        model="remote", messages=[{"role": "user", "content": "Frame warranty?"}], response_format=Warranty
    )

    assert parsed.choices[0].message.parsed == Warranty(**STRUCTURED)
    sent = model.requests[-1].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Warranty"
    assert sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["required"] == ["part", "years"]


def test_the_embedded_model_refuses_tools_saying_so(client):
    client, model = client

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "Hi"}], tools=[WARRANTY_TOOL]
        )

    assert "cannot call tools" in refused.value.body["detail"] and "remote" in refused.value.body["detail"]
    assert model.requests == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"logprobs": True}, "logprobs is not supported"),
        ({"functions": [{"name": "f"}]}, "send tools instead"),
        ({"modalities": ["audio"]}, "text only"),
        ({"reasoning_effort": "high"}, "override_config.reasoning_effort"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}]},
            "'image_url' parts are not supported",
        ),
        ({"messages": [{"role": "critic", "content": "Hi"}]}, "use system, developer, user, assistant or tool"),
        ({"messages": [{"role": "system", "content": "Hi"}]}, "no user message"),
        ({"messages": [{"role": "user", "content": None}]}, "content is required"),
        ({"messages": [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "{}"}]}, "tool_call_id"),
    ],
)
def test_refusals_name_the_parameter_and_what_to_use(client, fields, reason):
    client, model = client
    body = {"model": "remote", "messages": [{"role": "user", "content": "Hi"}]} | fields

    answer = httpx.post(f"{str(client.base_url).rstrip('/')}/chat/completions", json=body, timeout=30)

    assert answer.status_code == 400 and reason in answer.json()["detail"]
    assert model.requests == []


def test_harmless_defaults_some_clients_send_are_accepted(client):
    client, _ = client

    completion = client.chat.completions.create(
        model="remote",
        messages=[{"role": "user", "content": "Hi"}],
        logprobs=False,
        store=False,
        response_format={"type": "text"},
        extra_body={"prompt_cache_key": "k", "safety_identifier": "user-hash"},
    )

    assert completion.choices[0].message.content == "Echo 2 messages [1]."


def test_models_retrieve_names_an_agent_or_a_model(client):
    client, _ = client

    agent, alias = client.models.retrieve(AGENT_ID), client.models.retrieve("remote")

    assert (agent.id, agent.owned_by, agent.model_extra["name"]) == (AGENT_ID, "agent", "bike-helper")
    assert (alias.id, alias.owned_by) == ("remote", "model")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nothing")


def test_the_azure_openai_client_works_with_only_its_endpoint_changed(served):
    base_url, model = served
    with openai.AzureOpenAI(
        azure_endpoint=f"{base_url}/api", api_version="2024-10-21", api_key="function-key", max_retries=0
    ) as azure:
        by_agent = azure.chat.completions.create(model=AGENT_ID, messages=[{"role": "user", "content": "Frame?"}])
        by_alias = azure.chat.completions.create(
            model="remote",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Frame?"}],
        )
        with pytest.raises(openai.NotFoundError):
            azure.chat.completions.create(model="nothing", messages=[{"role": "user", "content": "Hi"}])

    assert by_agent.choices[0].message.content == by_alias.choices[0].message.content == "Echo 2 messages [1]."
    assert model.requests[-1].body["messages"][0]["content"].startswith("Be brief.")


def test_a_garbage_model_reply_is_an_error_never_an_empty_answer(served):
    """A model answering 200 with an HTML page: 503 in one piece; a stream (accepted before the
    model was called) ends with an error event, never a finished empty answer."""
    base_url, _ = served
    messages = [{"role": "user", "content": "Hi"}]
    with openai.OpenAI(base_url=f"{base_url}/api/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="garbage", messages=messages)
        with pytest.raises(openai.APIError) as broken:
            list(client.chat.completions.create(model="garbage", messages=messages, stream=True))
    assert failed.value.status_code == 503 and broken.value.body["code"] == failed.value.body["code"]

    v2 = {"question": "Frame warranty?", "override_config": {"llm": "garbage"}, "stream": True}
    with httpx.stream("POST", f"{base_url}/api/v2/flexible-rag", json=v2, timeout=60) as answer:
        events = [line.removeprefix("event: ") for line in answer.iter_lines() if line.startswith("event: ")]

    assert events == ["accepted", "sources", "error"]


def test_a_stream_that_breaks_after_its_first_chunk_ends_with_an_error_chunk(served):
    base_url, _ = served
    body = {"model": "breaks-mid-stream", "messages": [{"role": "user", "content": "Hi"}], "stream": True}

    with httpx.stream("POST", f"{base_url}/api/v1/chat/completions", json=body, timeout=60) as answer:
        data = [json.loads(line[6:]) for line in answer.iter_lines() if line.startswith("data: {")]

    assert data[-1]["error"]["code"] == "model_failed"
    assert not any(c.get("choices") and c["choices"][0]["finish_reason"] == "stop" for c in data[:-1])


def test_the_embedded_model_follows_a_json_schema(client):
    """llama.cpp's grammar constrains SmolLM2: whatever it says parses and fits the schema."""
    client, _ = client
    schema = {
        "type": "object",
        "properties": {
            "part": {"type": "string", "enum": ["frame", "battery", "motor"]},
            "covered": {"type": "boolean"},
            "years": {"type": "integer"},
        },
        "required": ["part", "covered", "years"],
        "additionalProperties": False,
    }

    completion = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "How long is the frame warranty?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "warranty", "schema": schema, "strict": True}},
        max_tokens=96,
    )

    answer = json.loads(completion.choices[0].message.content)
    assert set(answer) == {"part", "covered", "years"} and answer["part"] in ("frame", "battery", "motor")
    assert isinstance(answer["covered"], bool) and type(answer["years"]) is int
