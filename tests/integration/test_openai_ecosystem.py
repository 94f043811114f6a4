"""The frameworks people build on, unmodified, against the local server: LangChain
(ChatOpenAI with a SystemMessage, bind_tools, with_structured_output; AzureChatOpenAI),
LlamaIndex's OpenAILike (is_chat_model=True) and litellm. The scripted model checks what
reaches it: the framework's system prompt, its tools and its schema, intact."""

from __future__ import annotations

import json
import os
import subprocess

import pydantic
import pytest

from shared.config import PROJECT_ROOT
from tests.openai_scripted_model import STRUCTURED, TOOL_ARGUMENTS, TOOL_NAME

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm fetches its price list otherwise


class Warranty(pydantic.BaseModel):
    """The warranty of a part."""

    part: str
    years: int


def get_warranty(part: str) -> int:
    """The warranty of a part, in years."""
    return 10


SERVER_ALIASES = ("gpt-3.5-turbo",)  # of the scripted model, on the shared `served` server


@pytest.fixture
def base_url(served):
    base_url, model = served
    model.requests.clear()
    return base_url


def test_langchain_system_message_tools_and_structured_output(base_url, served):
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    model = served[1]
    chat = ChatOpenAI(base_url=f"{base_url}/api/v1", api_key="x", model="remote", max_retries=0)

    answer = chat.invoke([SystemMessage("You are a friendly assistant!"), HumanMessage("Frame warranty?")])
    called = chat.bind_tools([get_warranty]).invoke("Frame warranty?")
    structured = chat.with_structured_output(Warranty).invoke("Frame warranty?")

    assert answer.content == "Echo 2 messages [1]."
    assert model.requests[0].body["messages"][0]["content"].startswith("You are a friendly assistant!\n")
    assert called.tool_calls == [
        {"name": TOOL_NAME, "args": json.loads(TOOL_ARGUMENTS), "id": "call_1", "type": "tool_call"}
    ]
    offered = model.requests[1].body["tools"][0]["function"]
    assert offered["name"] == TOOL_NAME and offered["parameters"]["required"] == ["part"]
    assert structured == Warranty(**STRUCTURED)
    sent_format = model.requests[2].body["response_format"]
    assert sent_format["type"] == "json_schema" and sent_format["json_schema"]["name"] == "Warranty"


def test_langchain_azure_chat_openai(base_url, served):
    from langchain_openai import AzureChatOpenAI

    chat = AzureChatOpenAI(
        azure_endpoint=f"{base_url}/api",
        azure_deployment="remote",
        api_version="2024-10-21",
        api_key="function-key",
        max_retries=0,
    )

    assert chat.invoke([("system", "Be brief."), ("user", "Frame warranty?")]).content == "Echo 2 messages [1]."
    assert served[1].requests[-1].body["messages"][0]["content"].startswith("Be brief.\n")


def test_llamaindex_openai_like_as_a_chat_model(base_url, served):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model="remote", api_base=f"{base_url}/api/v1", api_key="x", is_chat_model=True, max_retries=0, timeout=60
    )

    answer = llm.chat([ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Frame?")])
    streamed = "".join(r.delta for r in llm.stream_chat([ChatMessage(role="user", content="Frame?")]))

    assert answer.message.content == streamed == "Echo 2 messages [1]."
    assert served[1].requests[0].body["messages"][0]["content"].startswith("Be brief.\n")


def test_litellm_through_its_openai_provider(base_url, served):
    import litellm

    answer = litellm.completion(
        model="openai/remote",
        api_base=f"{base_url}/api/v1",
        api_key="x",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Frame warranty?"}],
    )
    streamed = litellm.completion(
        model="openai/remote",
        api_base=f"{base_url}/api/v1",
        api_key="x",
        messages=[{"role": "user", "content": "Frame warranty?"}],
        stream=True,
    )

    assert answer.choices[0].message.content == "Echo 2 messages [1]."
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == "Echo 2 messages [1]."
    assert served[1].requests[0].body["messages"][0]["content"].startswith("Be brief.\n")


def ai_sdk(scenario: str, model: str, base_url: str) -> dict:
    """Run tests/ai_sdk/ecosystem.mjs; its JSON result. The default `openai` provider is
    configured as seed 003 leaves it: by OPENAI_BASE_URL and OPENAI_API_KEY alone."""
    if not (PROJECT_ROOT / "node_modules" / "@ai-sdk" / "openai").exists():
        if os.environ.get("CI"):
            pytest.fail("The AI SDK is not installed: `make test` installs it with npm")
        pytest.skip("The AI SDK is not installed; run `npm ci` or `make test`")
    run = subprocess.run(
        ["node", str(PROJECT_ROOT / "tests" / "ai_sdk" / "ecosystem.mjs"), "--scenario", scenario, "--model", model]
        + ["--base-url", base_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "unused"},
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])  # the SDK may log warnings before it


@pytest.mark.parametrize("provider", ["openai", "compatible"])
def test_seed_003_continue_conversation_runs_unmodified_for_three_turns(base_url, served, provider):
    """Only the base URL, the key and a model alias named as seed 003 names its model."""
    result = ai_sdk(f"seed003-{provider}", "gpt-3.5-turbo", f"{base_url}/api/v1")

    assert [m["role"] for m in result["messages"]] == ["user", "assistant"] * 3
    assert [m["content"] for m in result["messages"][1::2]] == [f"Echo {n} messages [1]." for n in (2, 4, 6)]
    # Each answer's call (follow-ups also make a query-rewrite call, which has no system message).
    sent = [r.body["messages"] for r in served[1].requests if r.body["messages"][0]["role"] == "system"]
    assert len(sent) == 3 and all(m[0]["content"].startswith("You are a friendly assistant!\n") for m in sent)
    assert [m["content"] for m in sent[-1][1:]] == [m["content"] for m in result["messages"][:-1]]
    paths = {r.path for r in served[1].requests}
    assert paths == {"/v1/chat/completions"}  # what the product forwards, whichever API the client spoke


@pytest.mark.parametrize("provider", ["compatible", "openai"])
def test_ai_sdk_tools_run_a_round_trip(base_url, served, provider):
    result = ai_sdk(f"tools-{provider}", "remote", f"{base_url}/api/v1")

    assert result["calls"] == [{"name": TOOL_NAME, "input": json.loads(TOOL_ARGUMENTS)}]
    assert result["steps"] == 2 and result["text"] == "The frame warranty is 10 years [1]."
    first, second = (r.body for r in served[1].requests)
    assert first["tools"][0]["function"]["name"] == TOOL_NAME
    assert second["messages"][-1]["role"] == "tool" and second["messages"][-2]["tool_calls"][0]["id"] == "call_1"


@pytest.mark.parametrize("provider", ["openai", "compatible"])
def test_ai_sdk_output_object_parses(base_url, served, provider):
    result = ai_sdk(f"object-{provider}", "remote", f"{base_url}/api/v1")

    assert result["output"] == STRUCTURED
    sent = served[1].requests[-1].body["response_format"]
    if provider == "openai":  # the Responses API's text.format, forwarded as response_format
        assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "warranty"
        assert sent["json_schema"]["schema"]["required"] == ["part", "years"]
    else:
        assert sent["type"] in ("json_schema", "json_object")


def test_ai_sdk_streams_over_the_responses_api(base_url, served):
    result = ai_sdk("stream-openai", "remote", f"{base_url}/api/v1")

    assert result["text"] == "Echo 2 messages [1]." and result["finishReason"] == "stop"
    assert (result["usage"]["inputTokens"], result["usage"]["outputTokens"]) == (30, 6)
    assert served[1].requests[-1].body["messages"][0]["content"].startswith("You are a friendly assistant!\n")
