"""MCP's JSON-RPC methods for a stateless server: initialize, ping, tools/list, tools/call.

The messages are the official SDK's own types (`mcp_types`, the pydantic models of the MCP
schema that the `mcp` package builds on, without its servers and clients). Nothing is kept
between requests: initialize only negotiates the protocol version, and any instance of a
scaled-out app answers any request. HTTP is shared.mcp.transport's business.

A tool's failure (a refused filter, a missing source, a search backend down, the deadline)
is its result with isError, which the model reads; an unknown tool or method, or params that
are not the method's, is a JSON-RPC error.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

import mcp_types as types
from mcp_types import jsonrpc
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION
from pydantic import BaseModel, ValidationError

from shared.config import get_settings
from shared.core.errors import RequestError, UpstreamError
from shared.http.requests import duplicate_key
from shared.identity import Principal
from shared.mcp.tools import BY_NAME, TOOLS, Tool

log = logging.getLogger(__name__)

SERVER = types.Implementation(name="rag-chat-backend", title="RAG chat knowledge base", version="1.0.0")
INSTRUCTIONS = (
    "A knowledge base of documents. search finds passages; ask answers a question with numbered citations; "
    "get_source opens a cited passage in its document. Cite sources by their source_id."
)
VERSIONS = HANDSHAKE_PROTOCOL_VERSIONS  # the ones with the initialize handshake: every version up to 2025-11-25
Message = jsonrpc.JSONRPCRequest | jsonrpc.JSONRPCNotification | jsonrpc.JSONRPCResponse | jsonrpc.JSONRPCError


class ProtocolError(Exception):
    """A JSON-RPC error: its code and a message safe to show."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def reply(self, request_id: jsonrpc.RequestId | None = None) -> dict[str, Any]:
        error = jsonrpc.ErrorData(code=self.code, message=self.message)
        return jsonrpc.JSONRPCError(jsonrpc="2.0", id=request_id, error=error).model_dump(mode="json")


def parse(body: bytes, version: str | None) -> Message:
    """One JSON-RPC message, sent with the MCP-Protocol-Version header `version` (None before it is
    negotiated); ProtocolError for another version, what is not JSON, or not one message (batches
    are gone since 2025-06-18)."""
    if version is not None and version not in VERSIONS:
        supported = ", ".join(VERSIONS)
        raise ProtocolError(jsonrpc.INVALID_REQUEST, f"Unsupported MCP-Protocol-Version {version!r}: use {supported}.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ProtocolError(jsonrpc.PARSE_ERROR, "Parse error: the body is not JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError(jsonrpc.INVALID_REQUEST, "Invalid request: send one JSON-RPC message (an object).")
    duplicated = duplicate_key(body)
    if duplicated is not None:
        raise ProtocolError(jsonrpc.INVALID_REQUEST, f"Invalid request: key {duplicated[-1]!r} appears twice.")
    try:
        message = jsonrpc.jsonrpc_message_adapter.validate_python(data)
    except ValidationError:
        message = None
    # A notification has no id at all: one with an id that is not a string or number is a broken request.
    if message is None or (isinstance(message, jsonrpc.JSONRPCNotification) and "id" in data):
        raise ProtocolError(jsonrpc.INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message.")
    return message


async def answer(request: jsonrpc.JSONRPCRequest, who: Principal) -> dict[str, Any]:
    """The JSON-RPC response to `request`: its result, or its error."""
    method = _METHODS.get(request.method)
    try:
        if method is None:
            raise ProtocolError(jsonrpc.METHOD_NOT_FOUND, f"Method not found: {request.method}")
        result = await method(request.params or {}, who)
    except ProtocolError as exc:
        return exc.reply(request.id)
    except Exception:  # noqa: BLE001 - the caller gets a JSON-RPC error, the log the traceback
        log.exception("MCP %s failed", request.method)
        return ProtocolError(jsonrpc.INTERNAL_ERROR, "Internal error.").reply(request.id)
    return {"jsonrpc": "2.0", "id": request.id, "result": result}


def _params(model: type[BaseModel], params: dict[str, Any]) -> Any:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, e["loc"])) or "params" for e in exc.errors())
        raise ProtocolError(jsonrpc.INVALID_PARAMS, f"Invalid params: {where}") from None


def _dump(result: types.Result) -> dict[str, Any]:
    # resultType belongs to the 2026-07-28 envelope, which this server does not speak.
    return result.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"result_type"})


async def _initialize(params: dict[str, Any], who: Principal) -> dict[str, Any]:
    asked = _params(types.InitializeRequestParams, params).protocol_version
    return _dump(
        types.InitializeResult(
            protocol_version=asked if asked in VERSIONS else LATEST_HANDSHAKE_VERSION,
            capabilities=types.ServerCapabilities(tools=types.ToolsCapability(list_changed=False)),
            server_info=SERVER,
            instructions=INSTRUCTIONS,
        )
    )


async def _ping(params: dict[str, Any], who: Principal) -> dict[str, Any]:
    return {}


async def _list_tools(params: dict[str, Any], who: Principal) -> dict[str, Any]:
    return tool_list(with_identity=who.identity is not None)


@functools.cache
def tool_list(*, with_identity: bool) -> dict[str, Any]:
    """The tools/list result a caller with (or without) an identity gets: the schemas are built once."""
    listed = [tool for tool in TOOLS if with_identity or not tool.needs_identity]
    return _dump(types.ListToolsResult(tools=[_describe(tool) for tool in listed]))


def _describe(tool: Tool) -> types.Tool:
    read_only = tool.name != "ask"  # ask with a session_id stores the turn
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.arguments.model_json_schema(mode="validation"),
        output_schema=tool.output.model_json_schema(mode="serialization"),
        annotations=types.ToolAnnotations(title=tool.title, read_only_hint=read_only, open_world_hint=False),
    )


async def _call_tool(params: dict[str, Any], who: Principal) -> dict[str, Any]:
    call = _params(types.CallToolRequestParams, params)
    tool = BY_NAME.get(call.name)
    if tool is None or (tool.needs_identity and who.identity is None):
        raise ProtocolError(jsonrpc.INVALID_PARAMS, f"Unknown tool: {call.name}")
    try:
        arguments = tool.arguments.model_validate(call.arguments or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
        return _tool_error(f"Invalid arguments: {problems}")
    deadline = get_settings().http.deadline_seconds
    try:
        async with asyncio.timeout(None if tool.keeps_deadline else deadline):
            structured, text = await tool.run(arguments, who)
    except RequestError as exc:
        return _tool_error(exc.message)
    except UpstreamError as exc:
        log.error("MCP tool %s: %s", tool.name, exc.code, exc_info=exc.__cause__)
        return _tool_error(f"{exc.message} Try again later.")
    except TimeoutError:
        return _tool_error(f"{tool.name} did not finish within {deadline:g} s.")
    result = _dump(types.CallToolResult(content=[types.TextContent(text=text)]))
    return {**result, "structuredContent": structured.model_dump(mode="json")}


def _tool_error(message: str) -> dict[str, Any]:
    return _dump(types.CallToolResult(content=[types.TextContent(text=message)], is_error=True))


_METHODS = {"initialize": _initialize, "ping": _ping, "tools/list": _list_tools, "tools/call": _call_tool}
