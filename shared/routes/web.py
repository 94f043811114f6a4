"""What the app serves about itself: the chat playground and the API reference (Swagger UI)
pages, their files, and the OpenAPI document.

Public (no function key, no token): they hold no data, and a browser cannot attach a key or
a token to a page it navigates to. The pages ask for those and send them with each API call.
Files come from a fixed allow-list by name: no part of a request becomes a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from azurefunctions.extensions.http.fastapi import JSONResponse, Response

from shared.config import PROJECT_ROOT
from shared.core.errors import RequestError
from shared.http.endpoints import Answer, ApiFamily, Call, api

PAGES_FAMILY = ApiFamily.PAGES

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
    "markdown.js": Asset(STATIC / "markdown.js", JS),
    "citations.js": Asset(STATIC / "citations.js", JS),
    "controls.js": Asset(STATIC / "controls.js", JS),
    "docs.js": Asset(STATIC / "docs.js", JS),
    "docs.css": Asset(STATIC / "docs.css", CSS),
    "swagger-ui-bundle.js": Asset(STATIC / "vendor" / "swagger-ui-bundle.js", JS, LONG_LIVED),
    "swagger-ui.css": Asset(STATIC / "vendor" / "swagger-ui.css", CSS, LONG_LIVED),
    "swagger-ui-LICENSE.txt": Asset(STATIC / "vendor" / "swagger-ui-LICENSE.txt", TEXT, LONG_LIVED),
    "swagger-ui-bundle.js.LICENSE.txt": Asset(STATIC / "vendor" / "swagger-ui-bundle.js.LICENSE.txt", TEXT, LONG_LIVED),
}


@api.operation(
    "GET",
    "openapi.json",
    "This document",
    ApiFamily.META,
    errors=(500,),
)
async def openapi(call: Call) -> Answer:
    """The OpenAPI 3.1 document of every endpoint, from the same declarations that register them."""
    from shared.http.openapi import openapi_document

    return JSONResponse(openapi_document(api.operations))


@api.operation(
    "GET",
    "playground",
    "The chat playground (a web page)",
    PAGES_FAMILY,
    errors=(503,),
    media_types=(HTML,),
    public=True,
)
async def playground(call: Call) -> Answer:
    return _serve(PAGES["playground"])


@api.operation(
    "GET",
    "docs",
    "This reference, in Swagger UI (a web page)",
    PAGES_FAMILY,
    errors=(503,),
    media_types=(HTML,),
    public=True,
)
async def docs(call: Call) -> Answer:
    """/api/openapi.json in Swagger UI, with try-it-out."""
    return _serve(PAGES["docs"])


@api.operation(
    "GET",
    "static/{name}",
    "A script, style sheet or license of the pages, by name",
    PAGES_FAMILY,
    errors=(404, 503),
    media_types=(JS, CSS, TEXT),
    public=True,
)
async def static_file(call: Call) -> Answer:
    """A file of the pages, by its name in the allow-list."""
    asset = ASSETS.get(call.request.path_params["name"])
    if asset is None:
        raise RequestError("no such file", status=404)
    return _serve(asset)


def _serve(asset: Asset) -> Response:
    try:
        content = asset.path.read_bytes()
    except FileNotFoundError:  # the vendor files are built, not committed
        missing = "the page's assets are not built: run `make assets`"
        raise RequestError(missing, status=503, code="assets_missing") from None
    headers = {"cache-control": asset.cache, "x-content-type-options": "nosniff"}
    if asset.media_type == HTML:
        headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        headers["referrer-policy"] = "no-referrer"
    return Response(content, media_type=asset.media_type, headers=headers)  # text/*: charset=utf-8 added
