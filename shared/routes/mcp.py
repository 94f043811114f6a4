"""The knowledge base as an MCP server (/api/mcp): the Streamable HTTP transport, stateless.

One POST carries one JSON-RPC message. A request is answered with one JSON body (the
transport lets a server answer JSON rather than open a stream; nothing here sends progress
or server-to-client requests), a notification or response with 202. There are no sessions:
no Mcp-Session-Id is issued, and GET (a server-to-client stream) is 405. The endpoint is
an ordinary operation of this app, so the function key, token validation, the body limit
and the correlation id apply as to every other one; the protocol itself is shared.mcp.

With token validation on, a 401 names the protected-resource metadata document (RFC 9728,
as the MCP authorization spec asks), served here without credentials: it holds only the
issuer a client signs in with.
"""

from __future__ import annotations

from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.http import requests
from shared.http.endpoints import Answer, ApiFamily, Call, api

FAMILY = ApiFamily.MCP
ROUTE = "mcp"
METADATA_ROUTE = ".well-known/oauth-protected-resource/mcp"
JSON_TYPES = ("application/json", "application/*", "*/*")


@api.operation(
    "POST",
    ROUTE,
    "MCP (Streamable HTTP, stateless): the tools search, ask, get_source, list_sessions and get_session",
    FAMILY,
    body="mcp.JsonRpcMessage",
    reads_body=True,
    response="mcp.JsonRpcReply",
    empty=(202,),
    errors=(400, 403, 406, 413, 415, 500),
    error_bodies=((400, "mcp.JsonRpcFailure"),),
    resource_metadata=METADATA_ROUTE,
)
async def mcp(call: Call) -> Answer:
    """One JSON-RPC message: a request gets its response (JSON), a notification or response 202."""
    from shared.mcp import protocol

    req = call.request
    _check_origin(req)
    accept = req.headers.get("accept")
    if accept is not None and not any(kind in accept for kind in JSON_TYPES):
        raise RequestError("accept application/json: this server answers every request with JSON", status=406)
    try:
        message = protocol.parse(await requests.json_bytes(req), req.headers.get("mcp-protocol-version"))
    except protocol.ProtocolError as exc:
        return JSONResponse(exc.reply(), status_code=400)
    if not isinstance(message, protocol.jsonrpc.JSONRPCRequest):
        return Response(status_code=202)
    return JSONResponse(await protocol.answer(message, call.principal()))


@api.operation(
    "GET",
    ROUTE,
    "MCP: no server-to-client stream (the server is stateless); 405",
    FAMILY,
    status=405,
    empty=(405,),
    errors=(500,),
)
async def mcp_stream(call: Call) -> Answer:
    return Response(status_code=405, headers={"Allow": "POST"})


@api.operation(
    "GET",
    METADATA_ROUTE,
    "The MCP endpoint's OAuth protected-resource metadata (RFC 9728), when token validation is on",
    FAMILY,
    response="mcp.ProtectedResourceMetadata",
    errors=(404, 500),
    public=True,
)
async def mcp_resource_metadata(call: Call) -> Answer:
    """Where a client gets a token for /api/mcp: the issuer (AUTH_ISSUER) and the scopes it needs."""
    from shared.wire.mcp import ProtectedResourceMetadata

    auth = get_settings().auth
    if not auth.token_validation:
        raise RequestError("token validation is off: /api/mcp takes no bearer token", status=404)
    return ProtectedResourceMetadata(
        resource=requests.public_url(call.request, ROUTE),
        authorization_servers=[auth.issuer],
        scopes_supported=auth.required_scopes or None,
        bearer_methods_supported=["header"],
        resource_name="RAG chat knowledge base (MCP)",
    )


def _check_origin(req: Request) -> None:
    """A browser page may call only from an allowed origin (HTTP_CORS_ALLOWED_ORIGINS): the transport's
    guard against DNS rebinding. Other clients send no Origin."""
    origin = req.headers.get("origin")
    if origin is not None and origin not in get_settings().http.cors_allowed_origins:
        raise RequestError(f"origin {origin!r} is not allowed (HTTP_CORS_ALLOWED_ORIGINS)", status=403)
