"""The app as the Functions host and a new user see it."""

from __future__ import annotations

import json
import logging
import subprocess

import httpx
import pytest

from shared.config import PROJECT_ROOT
from tests.support import configured_python


def test_local_server_serves_exactly_the_registered_functions(asgi_app):
    from devtools.local_server import app_functions

    registered = {
        (f"/api/{b['route']}", tuple(sorted(b["methods"])))
        for f in app_functions()
        for b in map(json.loads, f.get_raw_bindings())
        if b["type"] == "httpTrigger"
    }
    served = {(route.path, tuple(sorted(route.methods))) for route in asgi_app.routes}

    assert served == registered and registered


def test_the_functions_host_can_index_the_app():
    """Runs the Python worker's own indexing (azure-functions-runtime, Python 3.13) on function_app.py."""
    python = configured_python("HOSTLOAD_PYTHON", "the host-load check")

    result = subprocess.run(
        [python, str(PROJECT_ROOT / "tests" / "hostload" / "index_app.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["http_v2_enabled"] is True
    from devtools.local_server import app_functions

    assert {f["name"] for f in report["functions"]} == {f.get_function_name() for f in app_functions()}
    assert {"flexible_rag", "models", "mcp", "mcp_stream"} <= {f["name"] for f in report["functions"]}
    # Non-HTTP triggers beside the HTTP streaming extension: the Event Grid blob trigger (the one
    # Flex Consumption runs) and the BlobDeleted Event Grid trigger.
    bindings = {f["name"]: f["bindings"] for f in report["functions"]}
    [changed] = bindings["document_changed"]
    assert (changed["type"], changed["source"], changed["path"]) == ("blobTrigger", "EventGrid", "documents/{name}")
    assert [b["type"] for b in bindings["document_deleted"]] == ["eventGridTrigger"]


def test_the_local_server_answers_over_http(sample_index):
    from devtools.servers import running_in_background

    with running_in_background(300) as base_url:  # the model loads in ~25 s on a busy machine
        response = httpx.post(
            f"{base_url}/api/v2/flexible-rag",
            json={"question": "How long is the return period for a bike?"},
            timeout=60,
        )

    body = response.json()
    assert response.status_code == 200
    assert body["errors"] == []
    assert "returns-and-shipping.md" in {m["filename"] for m in body["metadata"]}


def test_the_local_servers_access_log_masks_the_function_key(sample_index, tmp_path):
    """The pages are opened with `?code=<key>` (README): the key must not land in the log."""
    from devtools.servers import running_in_background

    # A remote default model that is never called: the server starts without loading a model.
    model = {"alias": "remote", "provider": "openai", "model": "m", "endpoint": "http://127.0.0.1:9/v1"}
    env = {"LLM_PROVIDER": "none", "LLM_MODELS": json.dumps([model]), "PYTHONUNBUFFERED": "1"}
    with (tmp_path / "server.log").open("w+b") as log:
        with running_in_background(300, env=env, log=log) as base_url:
            for page in ("playground?code=key-7Qx9", "docs?x=1&code=key-7Qx9", "openapi.json?api-key=key-7Qx9"):
                assert httpx.get(f"{base_url}/api/{page}", timeout=60).status_code == 200
        log.seek(0)
        lines = log.read().decode()

    assert "key-7Qx9" not in lines
    for masked in ("/api/playground?code=*** HTTP/1.1", "/api/docs?x=1&code=*** HTTP", "/api/openapi.json?api-key=***"):
        assert masked in lines


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api/docs?code=k1&x=1", "/api/docs?code=***&x=1"),
        (
            "/api/x?x-functions-key=k1&sig=k2&access_token=k3&Code=k4&q=key",
            "/api/x?x-functions-key=***&sig=***&access_token=***&Code=***&q=key",
        ),
        ("/api/x?%63ode=k1&client_secret=k2&page=2", "/api/x?%63ode=***&client_secret=***&page=2"),
        ("/api/x", "/api/x"),
    ],
)
def test_the_access_log_masks_keys_and_tokens_in_query_strings(path, logged):
    from shared.http.access_log import RedactedAccessLog

    line = '%s - "%s %s HTTP/%s" %d'
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, line, ("c", "GET", path, "1.1", 200), None)

    assert RedactedAccessLog().filter(record)
    assert record.getMessage() == f'c - "GET {logged} HTTP/1.1" 200'
