"""The pages the app serves itself: the chat playground and the API reference (Swagger UI).

Public (no function key, no token): they hold no data, and a browser cannot attach a key or
a token to a page it navigates to. The pages ask for those and send them with each API call.
Files come from a fixed allow-list by name: no part of a request becomes a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.config import PROJECT_ROOT
from shared.routes.common import error_response

blueprint = func.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)

STATIC = PROJECT_ROOT / "static"
HTML, JS, CSS, TEXT = "text/html", "text/javascript", "text/css", "text/plain"
# Own files may change with every deployment: revalidated each time. Vendor files are pinned.
REVALIDATE, LONG_LIVED = "no-cache", "public, max-age=86400"
# Same origin only, no inline script; Swagger UI sets inline styles and uses data: icons.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True)
class Asset:
    path: Path
    media_type: str
    cache: str = REVALIDATE


PAGES = {
    "playground": Asset(STATIC / "playground.html", HTML),
    "docs": Asset(STATIC / "docs.html", HTML),
}
ASSETS = {
    "playground.js": Asset(STATIC / "playground.js", JS),
    "playground.css": Asset(STATIC / "playground.css", CSS),
    "docs.js": Asset(STATIC / "docs.js", JS),
    "swagger-ui-bundle.js": Asset(STATIC / "vendor" / "swagger-ui-bundle.js", JS, LONG_LIVED),
    "swagger-ui.css": Asset(STATIC / "vendor" / "swagger-ui.css", CSS, LONG_LIVED),
    "swagger-ui-LICENSE.txt": Asset(STATIC / "vendor" / "swagger-ui-LICENSE.txt", TEXT, LONG_LIVED),
    "swagger-ui-bundle.js.LICENSE.txt": Asset(STATIC / "vendor" / "swagger-ui-bundle.js.LICENSE.txt", TEXT, LONG_LIVED),
}


@blueprint.route(route="playground", methods=["GET"])
async def playground(req: Request) -> Response:
    """The chat playground."""
    return _serve(PAGES["playground"])


@blueprint.route(route="docs", methods=["GET"])
async def docs(req: Request) -> Response:
    """The API reference: /api/openapi.json in Swagger UI, with try-it-out."""
    return _serve(PAGES["docs"])


@blueprint.route(route="static/{name}", methods=["GET"])
async def static_file(req: Request) -> Response:
    """A script, style sheet or license of the pages, by its name in the allow-list."""
    asset = ASSETS.get(req.path_params["name"])
    if asset is None:
        return error_response(404, "no such file")
    return _serve(asset)


def _serve(asset: Asset) -> Response:
    try:
        content = asset.path.read_bytes()
    except FileNotFoundError:  # the vendor files are built, not committed
        return error_response(503, "the page's assets are not built: run `make assets`", code="assets_missing")
    headers = {"cache-control": asset.cache, "x-content-type-options": "nosniff"}
    if asset.media_type == HTML:
        headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        headers["referrer-policy"] = "no-referrer"
    return Response(content, media_type=asset.media_type, headers=headers)  # text/*: charset=utf-8 added
