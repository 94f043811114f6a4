"""The MCP endpoint's Streamable HTTP transport, stateless (shared.routes.mcp declares it): the
origin and Accept checks, one JSON-RPC message in, one JSON body (or 202) out; and the
protected-resource metadata document a 401 names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

from shared.config import get_settings
from shared.core.errors import RequestError
from shared.http import requests
from shared.mcp import protocol
from shared.wire.mcp import ProtectedResourceMetadata

if TYPE_CHECKING:
    from shared.http.endpoints import Call

JSON_TYPES = ("application/json", "application/*", "*/*")


async def post(call: Call) -> Response:
    """One JSON-RPC message: a request gets its response (JSON), a notification or response 202."""
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


def resource_metadata(call: Call, route: str) -> ProtectedResourceMetadata:
    """Where a client gets a token for the endpoint at `route`: the issuer (AUTH_ISSUER) and the
    scopes it needs; RequestError 404 when token validation is off."""
    auth = get_settings().auth
    if not auth.token_validation:
        raise RequestError("token validation is off: /api/mcp takes no bearer token", status=404)
    return ProtectedResourceMetadata(
        resource=requests.public_url(call.request, route),
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
