"""The knowledge base as an MCP server (/api/mcp): the Streamable HTTP transport, stateless.

One POST carries one JSON-RPC message. A request is answered with one JSON body (the
transport lets a server answer JSON rather than open a stream; nothing here sends progress
or server-to-client requests), a notification or response with 202. There are no sessions:
no Mcp-Session-Id is issued, and GET (a server-to-client stream) is 405. The endpoint is
an ordinary operation of this app, so the function key, token validation, the body limit
and the correlation id apply as to every other one; the transport is shared.mcp.transport,
the protocol shared.mcp.protocol.

With token validation on, a 401 names the protected-resource metadata document (RFC 9728,
as the MCP authorization spec asks), served here without credentials: it holds only the
issuer a client signs in with.
"""

from __future__ import annotations

from azurefunctions.extensions.http.fastapi import Response

from shared.http.endpoints import Answer, ApiFamily, Call, api

FAMILY = ApiFamily.MCP
ROUTE = "mcp"
METADATA_ROUTE = ".well-known/oauth-protected-resource/mcp"


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
    from shared.mcp import transport

    return await transport.post(call)


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
    from shared.mcp import transport

    return transport.resource_metadata(call, ROUTE)
