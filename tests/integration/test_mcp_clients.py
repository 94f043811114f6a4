"""Real MCP clients against the local server over HTTP: the official MCP Python SDK client,
the MCP Inspector CLI (npm), and an agent loop (the OpenAI Agents SDK) whose model is this
app's own OpenAI-compatible endpoint, with the scripted model behind it, calling our tools."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from shared.config import PROJECT_ROOT

QUESTION = "How many years of warranty does the frame have?"
INSPECTOR = PROJECT_ROOT / "node_modules" / "@modelcontextprotocol" / "inspector-cli" / "build" / "index.js"


# The shared `served` server (conftest.py) answers extractively, the embedded default: the
# frame's warranty line, cited.
SERVER_SETTINGS = {"LLM_ANSWER_STRATEGY": "extractive"}


async def test_the_official_client_gets_the_frame_warranty_from_search_and_ask(served):
    base_url, _ = served
    async with (
        streamable_http_client(f"{base_url}/api/mcp") as (read, write),
        ClientSession(read, write) as session,
    ):
        initialized = await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        search = await session.call_tool("search", {"query": QUESTION})
        ask = await session.call_tool("ask", {"question": QUESTION})

    assert initialized.server_info.name == "rag-chat-backend"
    assert tools == {"search", "ask", "get_source"}
    top = search.structured_content["passages"][0]
    assert top["filename"] == "warranty-policy.md" and "10 years" in top["text"]
    assert "10 years" in ask.structured_content["answer"]
    assert ask.structured_content["sources"][0]["filename"] == "warranty-policy.md"


def inspector(base_url: str, *arguments: str) -> dict:
    """The MCP Inspector's CLI (npm @modelcontextprotocol/inspector-cli): its JSON output."""
    if not INSPECTOR.exists():
        if os.environ.get("CI"):
            pytest.fail("The MCP Inspector CLI is not installed: `make test` installs it with npm")
        pytest.skip("The MCP Inspector CLI is not installed; run `npm ci` or `make test`")
    run = subprocess.run(
        ["node", str(INSPECTOR), f"{base_url}/api/mcp", "--transport", "http", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=INSPECTOR.parent,  # it finds its own package.json by a path relative to the working directory
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_the_mcp_inspector_cli_lists_and_calls_the_tools(served):
    base_url, _ = served
    listed = inspector(base_url, "--method", "tools/list")
    called = inspector(base_url, "--method", "tools/call", "--tool-name", "search", "--tool-arg", f"query={QUESTION}")
    failed = inspector(base_url, "--method", "tools/call", "--tool-name", "get_source", "--tool-arg", "source_id=x-0")

    assert {tool["name"] for tool in listed["tools"]} == {"search", "ask", "get_source"}
    assert called["structuredContent"]["passages"][0]["filename"] == "warranty-policy.md"
    assert "10 years" in called["content"][0]["text"]
    assert failed["isError"] is True and "no source" in failed["content"][0]["text"]


async def test_an_agent_loop_answers_through_our_model_endpoint_and_our_mcp_tools(served):
    from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
    from agents.mcp import MCPServerStreamableHttp
    from openai import AsyncOpenAI

    base_url, model = served
    model.requests.clear()
    set_tracing_disabled(True)  # traces would go to OpenAI's platform
    brain = OpenAIChatCompletionsModel(
        model="remote", openai_client=AsyncOpenAI(base_url=f"{base_url}/api/v1", api_key="unused", max_retries=0)
    )
    async with MCPServerStreamableHttp({"url": f"{base_url}/api/mcp", "timeout": 60}, name="kb") as knowledge_base:
        agent = Agent(name="support", instructions="Answer from the docs.", model=brain, mcp_servers=[knowledge_base])
        result = await Runner.run(agent, QUESTION, max_turns=4)

    offered = {tool["function"]["name"] for tool in model.requests[0].body["tools"]}
    tool_result = model.requests[1].body["messages"][-1]
    assert {"search", "ask", "get_source"} <= offered  # our MCP tools, through our own endpoint
    assert tool_result["role"] == "tool" and "warranty-policy.md" in tool_result["content"]
    assert "10 years" in result.final_output
