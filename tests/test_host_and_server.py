"""The app as the Functions host and a new user see it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from shared.config import PROJECT_ROOT


def test_local_server_serves_exactly_the_registered_functions(asgi_app):
    from shared.local_server import app_functions

    registered = {
        (f"/api/{b['route']}", tuple(b["methods"]))
        for f in app_functions()
        for b in map(json.loads, f.get_raw_bindings())
        if b["type"] == "httpTrigger"
    }
    served = {(route.path, tuple(sorted(route.methods - {"HEAD"}))) for route in asgi_app.routes}

    assert served == registered and registered


def test_the_functions_host_can_index_the_app():
    """Runs the Python worker's own indexing (azure-functions-runtime, Python 3.13) on function_app.py."""
    python = os.environ.get("HOSTLOAD_PYTHON")
    if not python:
        if os.environ.get("CI"):
            pytest.fail("HOSTLOAD_PYTHON is not set: CI must run the host-load check (make test sets it)")
        pytest.skip("HOSTLOAD_PYTHON (a Python 3.13 with azure-functions-runtime) is not set; `make test` sets it")

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
    assert {f["name"] for f in report["functions"]} == {"flexible_rag"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_local_server_answers_over_http(sample_index):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "shared.local_server", "--port", str(port)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v2/flexible-rag"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(url, json={"question": "How long is the return period for a bike?"}, timeout=60)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the local server did not start"
                time.sleep(0.2)
        body = response.json()
        assert response.status_code == 200
        assert body["errors"] == []
        assert "returns-and-shipping.md" in {m["filename"] for m in body["metadata"]}
    finally:
        server.terminate()
        server.wait(timeout=10)
