"""CORS: no origin by default; HTTP_CORS_ALLOWED_ORIGINS on the local server, the Function App's CORS on Azure."""

from __future__ import annotations

import json
import re

import httpx

from shared.config import PROJECT_ROOT
from tests.bicep_text import without_comments

APP_ORIGIN = "https://app.example.com"
PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type, x-functions-key",
}


async def _preflight(origin: str) -> httpx.Response:
    from devtools.local_server import build_app

    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.options("/api/v2/flexible-rag", headers={"origin": origin, **PREFLIGHT})


async def test_no_origin_is_allowed_by_default():
    response = await _preflight(APP_ORIGIN)

    assert response.status_code == 404  # no function takes OPTIONS, as on Azure without CORS
    assert "access-control-allow-origin" not in response.headers


async def test_an_allowed_origin_gets_its_preflight_answered(configure):
    configure(HTTP_CORS_ALLOWED_ORIGINS=json.dumps([APP_ORIGIN]))

    response = await _preflight(APP_ORIGIN)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-functions-key"} <= {h.strip() for h in allowed_headers.split(",")}


async def test_another_origin_is_refused_and_gets_no_cors_headers(configure):
    configure(HTTP_CORS_ALLOWED_ORIGINS=json.dumps([APP_ORIGIN]))

    response = await _preflight("https://evil.example.net")

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_an_allowed_origin_can_read_a_real_answer(configure, sample_index):
    from devtools.local_server import build_app

    configure(HTTP_CORS_ALLOWED_ORIGINS=json.dumps([APP_ORIGIN]))
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/v2/models", headers={"origin": APP_ORIGIN})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "x-correlation-id" in response.headers["access-control-expose-headers"].lower()


def test_the_function_app_takes_its_cors_origins_from_an_azd_variable():
    infra = PROJECT_ROOT / "infra"
    parameters = json.loads((infra / "main.parameters.json").read_text())["parameters"]
    main = without_comments((infra / "main.bicep").read_text())
    app = without_comments((infra / "modules" / "functionapp.bicep").read_text())

    assert parameters["corsAllowedOrigins"]["value"] == "${AZURE_CORS_ALLOWED_ORIGINS=}"  # default: none
    assert re.search(r"^param corsAllowedOrigins string = ''$", main, re.MULTILINE)
    assert "corsAllowedOrigins: empty(corsAllowedOrigins) ? [] : split(corsAllowedOrigins, ',')" in main
    assert re.search(r"^param corsAllowedOrigins array = \[\]$", app, re.MULTILINE)
    assert re.search(r"siteConfig: \{[^}]*cors: \{\s*allowedOrigins: corsAllowedOrigins\s", app)
