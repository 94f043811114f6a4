"""The Responses API (POST /api/v1/responses), driven by the official openai SDK against the
local server, with a scripted model checking what is forwarded: instructions and input,
citations, the typed stream, previous_response_id per caller, tools and text.format."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.openai_scripted_model import (
    STRUCTURED,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    WARRANTY_TOOL,
    openai_client,
)

TOOL = {"type": "function", **WARRANTY_TOOL["function"]}  # the Responses API's flat function tool


# The shared `served` server (conftest.py), where `user` names whose conversation it is.
SERVER_SETTINGS = {"AUTH_TRUST_ASSERTED_USERS": "true"}


@pytest.fixture
def client(served):
    with openai_client(served) as pair:
        yield pair


def test_a_response_answers_with_instructions_and_citations(client):
    client, model = client

    response = client.responses.create(
        model="remote", instructions="You are a friendly assistant!", input="How long is the frame warranty?"
    )

    assert response.object == "response" and response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == "Echo 2 messages [1]." and response.model == "remote"
    assert response.output[0].type == "message" and response.output[0].content[0].type == "output_text"
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (30, 6, 36)
    assert response.model_extra["citations"][0]["index"] == 1
    sent = model.requests[-1].body["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"].startswith("You are a friendly assistant!\n")
    assert "Sources:" in sent[0]["content"]
    assert sent[1] == {"role": "user", "content": "How long is the frame warranty?"}


def test_input_messages_carry_system_and_earlier_turns(client):
    client, model = client

    client.responses.create(
        model="remote",
        input=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "input_text", "text": "Frame warranty?"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Ten years [1]."}]},
            {"role": "user", "content": "And the battery?"},
        ],
        max_output_tokens=40,
        temperature=0.3,
        truncation="disabled",  # asks for nothing this service would not do anyway
        metadata={},
    )

    sent = model.requests[-1].body
    assert sent["messages"][0]["content"].startswith("Be brief.\n")
    assert [m["content"] for m in sent["messages"][1:]] == ["Frame warranty?", "Ten years [1].", "And the battery?"]
    assert (sent["max_tokens"], sent["temperature"]) == (40, 0.3)


def test_a_stream_is_the_typed_events_in_order(client):
    client, _ = client

    events = list(client.responses.create(model="remote", input="Frame warranty?", stream=True))

    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Echo 2 messages [1]."
    done = events[-1].response
    assert done.output_text == "Echo 2 messages [1]." and done.id == events[0].response.id
    assert events[2].item.id == done.output[0].id


def test_previous_response_id_continues_the_callers_conversation_only(client):
    client, model = client

    first = client.responses.create(model="remote", input="Tell me about the frame warranty.", user="ana")
    second = client.responses.create(model="remote", input="How long is it?", previous_response_id=first.id, user="ana")

    sent = [m["content"] for m in model.requests[-1].body["messages"][1:]]
    assert sent == ["Tell me about the frame warranty.", "Echo 2 messages [1].", "How long is it?"]
    assert second.previous_response_id == first.id and second.id[5:37] == first.id[5:37]
    with pytest.raises(openai.NotFoundError):  # another caller cannot continue it, even with its id
        client.responses.create(model="remote", input="What did we say?", previous_response_id=second.id, user="eve")
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="remote", input="Hi", previous_response_id="resp_" + "0" * 48, user="ana")


def test_tools_come_back_as_function_call_items_and_their_outputs_go_in(client):
    client, model = client

    called = client.responses.create(model="remote", input="Frame warranty?", tools=[TOOL])
    call = called.output[0]
    answered = client.responses.create(
        model="remote",
        input=[
            {"role": "user", "content": "Frame warranty?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"years": 10})},
        ],
        tools=[TOOL],
    )

    assert (call.type, call.call_id, call.name, call.arguments) == (
        "function_call",
        "call_1",
        TOOL_NAME,
        TOOL_ARGUMENTS,
    )
    assert model.requests[-2].body["tools"] == [WARRANTY_TOOL]
    assert model.requests[-1].body["messages"][-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"years": 10}'},
    ]
    assert answered.output_text == "The frame warranty is 10 years [1]."


def test_streamed_function_calls_carry_argument_deltas(client):
    client, _ = client

    events = list(client.responses.create(model="remote", input="Frame warranty?", tools=[TOOL], stream=True))

    kinds = [e.type for e in events]
    assert kinds[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[2].item.name == TOOL_NAME and events[5].arguments == TOOL_ARGUMENTS
    assert events[-1].response.output[0].call_id == "call_1"


def test_text_format_json_schema_reaches_the_model_as_response_format(client):
    client, model = client
    schema = {"type": "object", "properties": {"part": {"type": "string"}, "years": {"type": "integer"}}}

    response = client.responses.create(
        model="remote",
        input="Frame warranty?",
        text={"format": {"type": "json_schema", "name": "warranty", "schema": schema, "strict": True}},
    )

    assert json.loads(response.output_text) == STRUCTURED
    assert model.requests[-1].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "warranty", "schema": schema, "strict": True},
    }


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"background": True}, "background responses are not supported"),
        ({"reasoning": {"effort": "high"}}, "leave reasoning unset"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "store = false"),
        ({"tools": [{"type": "web_search"}]}, None),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x"}]}]},
            "flexible-chat-mm",
        ),
        ({"previous_response_id": "resp_" + "a" * 48, "store": False}, "store true"),
    ],
)
def test_what_is_left_out_is_refused_clearly(served, fields, reason):
    base_url, model = served
    model.requests.clear()

    answer = httpx.post(f"{base_url}/api/v1/responses", json={"model": "remote", "input": "Hi"} | fields, timeout=30)

    if reason is None:  # a built-in tool: the schema names the one tool type there is
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][:2] == ["body", "tools"]
    else:
        assert answer.status_code == 400 and reason in answer.json()["detail"]
    assert model.requests == []


def test_a_garbage_model_reply_fails_the_response(served):
    """503 in one piece; a stream, accepted before the model is called, ends with response.failed."""
    base_url, _ = served
    with openai.OpenAI(base_url=f"{base_url}/api/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as failed:
            client.responses.create(model="garbage", input="Hi")
        events = list(client.responses.create(model="garbage", input="Hi", stream=True))

    assert failed.value.status_code == 503
    assert [e.type for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1].response.status == "failed" and events[-1].response.error.code == failed.value.body["code"]
