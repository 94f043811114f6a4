"""The MCP endpoint (/api/mcp): its tools' arguments and results, and the JSON-RPC envelope
as the OpenAPI document describes it.

Arguments are strict (unknown or mistyped fields are refused, as in every API family) and
carry the same limits as the HTTP API: a question of at most 20,000 characters, at most
50 sources. Each tool's inputSchema and outputSchema are these models' JSON schemas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from shared.wire.common import Integer, StrictModel
from shared.wire.flexible_requests import SessionId
from shared.wire.sources import SOURCE_ID_PATTERN

SearchMode = Literal["hybrid", "text", "vector"]


class SearchArgs(StrictModel):
    query: str = Field(min_length=1, max_length=20_000, description="What to look for: words or a question.")
    filter: str | None = Field(
        None,
        max_length=20_000,
        description="Optional OData filter on the index fields, e.g. \"category eq 'policy'\" or "
        "\"tags/any(t: t eq 'warranty')\"; fields: title, filename, chunk_index, page, category, tags.",
    )
    top: Integer = Field(5, ge=1, le=50, description="How many passages to return (1 to 50).")
    mode: SearchMode = Field(
        "hybrid",
        description="hybrid: keywords and meaning (the default); text: exact keywords only; vector: meaning only.",
    )


class AskArgs(StrictModel):
    question: str = Field(min_length=1, max_length=20_000, description="The question, as the user would ask it.")
    session_id: SessionId | None = Field(
        None, description="Continue (or start) this stored conversation: earlier turns give the question context."
    )


class GetSourceArgs(StrictModel):
    source_id: str = Field(pattern=SOURCE_ID_PATTERN, description="A passage id from search or ask results.")


class ListSessionsArgs(StrictModel):
    page_size: Integer = Field(20, ge=1, le=100, description="Sessions per page.")
    continuation: str | None = Field(None, max_length=4096, description="From the previous page's result.")


class GetSessionArgs(StrictModel):
    session_id: SessionId = Field(description="A session id from list_sessions.")


class Passage(BaseModel):
    n: int = Field(description="The passage's number in this result, as [n] cites it.")
    source_id: str = Field(description="Pass to get_source to read the passage in its document.")
    title: str | None
    filename: str
    page: int | None = Field(description="The PDF page; null for other files.")
    section: int = Field(description="The passage's place in its document (chunk index, from 0).")
    score: float = Field(description="Relevance: higher is better; comparable within one result only.")
    link: str = Field(description="The passage in the HTTP API (GET, same credentials).")
    text: str | None = Field(None, description="The passage (search only).")


class SearchOutput(BaseModel):
    query: str
    mode: SearchMode
    passages: list[Passage]


class AskOutput(BaseModel):
    answer: str = Field(description="The answer; [n] cites sources[n-1].")
    sources: list[Passage]
    session_id: str | None = Field(description="The stored conversation this turn continued, if any.")
    errors: list[str] = Field(description="What failed along the way (the answer then says what it could).")


class JsonRpcMessage(BaseModel):
    """A JSON-RPC 2.0 request (with an id) or notification (without), as MCP sends them."""

    model_config = ConfigDict(extra="allow")  # the MCP server ignores other members, as JSON-RPC lets it
    jsonrpc: Literal["2.0"]
    # Never null (the MCP server refuses a null id): absent for a notification.
    id: Annotated[int | str | None, WithJsonSchema({"type": ["integer", "string"]})] = Field(
        None, description="Absent for a notification (answered 202, no body)."
    )
    method: str = Field(description="initialize, ping, tools/list, tools/call, notifications/...")
    params: dict[str, Any] | None = None


class JsonRpcErrorObject(BaseModel):
    code: int
    message: str
    data: Any = None


class JsonRpcReply(BaseModel):
    """The answer to a request: its result, or a JSON-RPC error (unknown method or tool, bad params)."""

    jsonrpc: Literal["2.0"]
    id: int | str | None
    result: dict[str, Any] | None = None
    error: JsonRpcErrorObject | None = None


class JsonRpcFailure(BaseModel):
    """A message that could not be taken: not JSON, not JSON-RPC, or an unsupported protocol version."""

    jsonrpc: Literal["2.0"]
    id: None
    error: JsonRpcErrorObject


class ProtectedResourceMetadata(BaseModel):
    """OAuth 2.0 Protected Resource Metadata (RFC 9728) of /api/mcp."""

    resource: str = Field(description="The MCP endpoint's URL, as the client called it.")
    authorization_servers: list[str] = Field(description="The token issuer (AUTH_ISSUER).")
    scopes_supported: list[str] | None = Field(None, description="AUTH_REQUIRED_SCOPES, when set.")
    bearer_methods_supported: list[str]
    resource_name: str
