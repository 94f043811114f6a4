"""A scripted OpenAI-compatible model for the ecosystem tests: it calls the `get_warranty`
tool when it is offered one and has no tool result yet (or, offered the MCP endpoint's
`search` tool, searches for the frame warranty and answers with the line of the result
that gives it), answers JSON that fits a json_schema response format, and otherwise counts
the messages it received. Each answer comes as one chat.completion, or as chunks when the
request streams (tool arguments in two pieces, as OpenAI splits them)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devtools.servers import running_in_background
from tests.recording_server import RawReply, RecordingServer, StreamScript
from tests.support import remote_model_entry

TOOL_NAME = "get_warranty"
TOOL_ARGUMENTS = '{"part": "frame"}'
STRUCTURED = {"part": "frame", "years": 10}
MCP_TOOL = ("search", '{"query": "How many years of warranty does the frame have?", "top": 3}')
USAGE = {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36}


def reply(request) -> tuple[int, Any]:
    body = request.body
    if body["model"] == "garbage":  # a proxy's error page, answered with 200
        return 200, RawReply("<html>not json</html>")
    if body["model"] == "breaks-mid-stream":
        return 200, StreamScript(
            [_chunk({"index": 0, "delta": {"content": "The fr"}, "finish_reason": None}), "<html>"]
        )
    messages = body["messages"]
    offered = [t["function"]["name"] for t in body.get("tools") or ()]
    may_call = messages[-1]["role"] != "tool" and body.get("tool_choice") != "none"
    if TOOL_NAME in offered and may_call:
        return _answer(body, tool=(TOOL_NAME, TOOL_ARGUMENTS))
    if MCP_TOOL[0] in offered and may_call:
        return _answer(body, tool=MCP_TOOL)
    if (body.get("response_format") or {}).get("type") in ("json_schema", "json_object"):
        return _answer(body, text=json.dumps(STRUCTURED))
    if messages[-1]["role"] == "tool":
        return _answer(body, text=_from_tool(messages[-1]["content"]))
    return _answer(body, text=f"Echo {len(messages)} messages [1].")


def _from_tool(result: str) -> str:
    """get_warranty's years, or the line of an MCP search result that gives the frame's (its text
    content, which an agent may pass on as JSON)."""
    try:
        data = json.loads(result)
    except ValueError:
        data = result
    if isinstance(data, dict) and "years" in data:
        return f"The frame warranty is {data['years']} years [1]."
    texts = [part.get("text", "") for part in (data if isinstance(data, list) else [data]) if isinstance(part, dict)]
    lines = "\n".join(texts or [str(data)]).splitlines()
    found = next((line for line in lines if "years" in line and "Frame" in line), "nothing found")
    return f"The knowledge base says: {found.strip()}"


def _answer(body: dict[str, Any], *, text: str | None = None, tool: tuple[str, str] | None = None) -> tuple[int, Any]:
    tool_call = tool is not None
    name, arguments = tool or (TOOL_NAME, TOOL_ARGUMENTS)
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    finish = "tool_calls" if tool_call else "stop"
    if not body.get("stream"):
        message = {"role": "assistant", "content": text, **({"tool_calls": [call]} if tool_call else {})}
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return 200, {
            "id": "s",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [choice],
            "usage": USAGE,
        }
    if tool_call:
        first = {**call, "function": {"name": name, "arguments": arguments[:9]}}
        deltas = [
            {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **first}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[9:]}}]},
        ]
    else:
        deltas = [{"role": "assistant", "content": text[:5]}, {"content": text[5:]}]
    events = [_chunk({"index": 0, "delta": d, "finish_reason": None}) for d in deltas]
    events.append(_chunk({"index": 0, "delta": {}, "finish_reason": finish}))
    events.append({**_chunk(None), "usage": USAGE})
    return 200, StreamScript(events)


def _chunk(choice: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": "s",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [choice] if choice else [],
    }


WARRANTY_TOOL = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "The warranty of a part, in years.",
        "parameters": {
            "type": "object",
            "properties": {"part": {"type": "string"}},
            "required": ["part"],
            "additionalProperties": False,
        },
    },
}


@contextlib.contextmanager
def serving(history_dir: Path, aliases: tuple[str, ...] = (), **env: str) -> Iterator[tuple[str, RecordingServer]]:
    """(the local server's base URL, the scripted model), with the aliases `remote`, `garbage`
    (a 200 HTML page), `breaks-mid-stream` and `aliases` on the scripted model, and the embedded model."""
    with RecordingServer(reply) as model:
        models = [
            remote_model_entry(model),
            remote_model_entry(model, "garbage", model="garbage"),
            remote_model_entry(model, "breaks-mid-stream", model="breaks-mid-stream"),
            *(remote_model_entry(model, alias) for alias in aliases),
        ]
        settings = {"LLM_MODELS": json.dumps(models), "HISTORY_SQLITE_PATH": str(history_dir / "history.sqlite")}
        with running_in_background(env=settings | env) as base_url:
            yield base_url, model


@contextlib.contextmanager
def openai_client(served: tuple[str, RecordingServer]) -> Iterator[tuple[Any, RecordingServer]]:
    """The openai SDK on the local server of `serving`, and its scripted model with no requests yet."""
    import openai

    base_url, model = served
    model.requests.clear()
    with openai.OpenAI(base_url=f"{base_url}/api/v1", api_key="x", max_retries=0) as client:
        yield client, model
