"""The pages the app serves (playground, API reference): by name only, with their types, and deployed."""

from __future__ import annotations

import os

import pytest
import yaml

from shared.config import PROJECT_ROOT
from tests.support import deployed


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/api/playground", "text/html"),
        ("/api/docs", "text/html"),
        ("/api/static/playground.js", "text/javascript"),
        ("/api/static/playground.css", "text/css"),
        ("/api/static/markdown.js", "text/javascript"),
        ("/api/static/citations.js", "text/javascript"),
        ("/api/static/controls.js", "text/javascript"),
        ("/api/static/docs.js", "text/javascript"),
        ("/api/static/docs.css", "text/css"),
        ("/api/static/swagger-ui-bundle.js", "text/javascript"),
        ("/api/static/swagger-ui.css", "text/css"),
        ("/api/static/swagger-ui-LICENSE.txt", "text/plain"),
    ],
)
async def test_each_page_and_asset_is_served_with_its_type(client, path, media_type):
    if "swagger" in path and not (PROJECT_ROOT / "static" / "vendor" / "VERSION").exists():
        # Built from npm by `make assets`, which make test runs first and make check does not.
        if os.environ.get("CI"):
            pytest.fail("static/vendor/ is not built: `make test` builds it (make assets)")
        pytest.skip("Swagger UI is not in static/vendor/ yet: `make assets` (make test) builds it from npm")
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content


async def test_pages_allow_no_other_origin_and_no_inline_script(client):
    response = await client.get("/api/playground")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "connect-src 'self'" in policy
    assert response.headers["cache-control"] == "no-cache"
    assert (await client.get("/api/static/swagger-ui-bundle.js")).headers["cache-control"].startswith("public")


@pytest.mark.parametrize(
    "name",
    ["host.json", "..%2Fhost.json", "%2e%2e%2ffunction_app.py", "vendor%2Fswagger-ui.css", "docs.html", ""],
)
async def test_only_files_on_the_allow_list_are_served(client, name):
    response = await client.get(f"/api/static/{name}")

    assert response.status_code == 404
    assert b"routePrefix" not in response.content and b"register_blueprint" not in response.content


async def test_a_missing_built_file_is_a_503_that_says_how_to_build_it(client, monkeypatch, tmp_path):
    from shared.routes import web

    monkeypatch.setitem(web.ASSETS, "swagger-ui.css", web.Asset(tmp_path / "swagger-ui.css", web.CSS))

    response = await client.get("/api/static/swagger-ui.css")

    assert response.status_code == 503
    assert response.json() == {"detail": "the page's assets are not built: run `make assets`", "code": "assets_missing"}


async def test_the_pages_need_no_key_and_are_in_the_openapi_document(client):
    document = (await client.get("/api/openapi.json")).json()

    for path in ("/api/playground", "/api/docs", "/api/static/{name}"):
        assert document["paths"][path]["get"]["security"] == []
    assert list(document["paths"]["/api/docs"]["get"]["responses"]["200"]["content"]) == ["text/html"]


def test_the_deployed_package_holds_the_pages_and_the_reference_assets():
    from scripts.build_assets import FILES
    from shared.routes.web import ASSETS, PAGES

    for asset in [*PAGES.values(), *ASSETS.values()]:
        relative = asset.path.relative_to(PROJECT_ROOT).as_posix()
        assert deployed(relative), f".funcignore leaves out {relative}"
        if relative.startswith("static/vendor/"):  # built, not committed: the build must make it
            assert asset.path.name in FILES, f"scripts/build_assets.py does not build {relative}"
        else:
            assert asset.path.is_file(), relative
    hooks = yaml.safe_load((PROJECT_ROOT / "azure.yaml").read_text())["hooks"]["prepackage"]
    for shell in ("posix", "windows"):
        assert "npm ci" in hooks[shell]["run"] and "scripts/build_assets.py" in hooks[shell]["run"]
        assert hooks[shell]["continueOnError"] is False
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "\tpython3 scripts/build_assets.py" in makefile.replace("$(PYTHON)", "python3")
    for target in ("run:", "test:"):
        line = next(line for line in makefile.splitlines() if line.startswith(target))
        assert " assets" in line, f"make {target[:-1]} does not build the assets"
