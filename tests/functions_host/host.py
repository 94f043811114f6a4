"""A test stand-in for the Azure Functions host, in front of the real Python worker.

    python tests/functions_host/host.py --port 7199      (Python 3.13, azure-functions-runtime)

It starts the worker as the host does (tests/functions_host/worker.py: init with indexing and
HTTP streaming, function metadata, a load request per function), then serves HTTP on
127.0.0.1:PORT the way the host's front end does for a streaming worker:

- the route is matched against the functions' httpTrigger routes under host.json's prefix
  (literal segments before parameters, as ASP.NET routing ranks them), 404 when none matches;
- a function's authLevel is enforced: `function` and `admin` need the function key
  (FUNCTIONS_TEST_HOST_KEY) as `code` in the query or an `x-functions-key` header, else 401;
- the InvocationRequest (route parameters, trace context) goes to the worker's
  invocation_request and, at the same time, the raw HTTP request, with the
  `x-ms-invocation-id` header, to the worker's own HTTP server (the HttpUri it reported);
  the worker's response is streamed back as it comes.

GET /admin/host/status answers what the worker reported (capabilities, functions) and the
outcome of every invocation (the InvocationResponse's status and exception), and the log
records of level ERROR that the app wrote, as the host would collect them.

What this is not: the host's gRPC channel, its scale controller and its platform front end
(TLS, timeouts, Easy Auth, CORS). See docs/testing.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from worker import HttpFunction, Worker, compile_protocol  # noqa: E402

# Hop-by-hop headers, which a proxy does not pass on.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
OWN_HEADERS = {"date", "server"}  # the front end's own server writes these
KEY_PARAMETER, KEY_HEADER = "code", "x-functions-key"


class Routes:
    """The functions' route templates, matched as the host's router does for the ones we use."""

    def __init__(self, prefix: str, functions: list[HttpFunction]) -> None:
        self.table = []
        for function in functions:
            segments = [s for s in f"{prefix}/{function.route}".split("/") if s]
            for segment in segments:
                if "{" in segment and not re.fullmatch(r"\{\w+\}", segment):
                    raise ValueError(f"route segment {segment!r} of {function.name}: not supported by the test host")
            self.table.append((segments, function))
        # Literal segments rank before parameters, position by position.
        self.table.sort(key=lambda entry: [s.startswith("{") for s in entry[0]])

    def match(self, method: str, path: str) -> tuple[HttpFunction, dict[str, str]] | None:
        parts = [p for p in path.split("/") if p]
        for segments, function in self.table:
            if len(segments) != len(parts) or (function.methods and method not in function.methods):
                continue
            params = {}
            for segment, part in zip(segments, parts, strict=True):
                if segment.startswith("{"):
                    params[segment[1:-1]] = part
                elif segment.lower() != part.lower():
                    break
            else:
                return function, params
        return None


class ErrorLog(logging.Handler):
    """The app's and the worker's log records of level ERROR, as the host would receive them."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append({"logger": record.name, "message": record.getMessage()})


def front_end(worker: Worker, routes: Routes, key: str, errors: ErrorLog) -> Any:
    """The host's HTTP front end: an ASGI app, run on a thread of its own (the host is another process)."""
    import httpx
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    worker_uri = worker.capabilities["HttpUri"]
    client = httpx.AsyncClient(timeout=httpx.Timeout(240, connect=10))
    invocations: list[dict[str, Any]] = []
    pending: set[asyncio.Future] = set()

    async def status(request: Request) -> Response:
        if pending:  # the invocations of answers just sent: their InvocationResponse may still be on its way
            await asyncio.wait(pending, timeout=60)
        functions = [vars(f) for f in worker.functions]
        return JSONResponse(
            {
                "capabilities": worker.capabilities,
                "functions": functions,
                "triggered_functions": {name: f.trigger for name, f in worker.triggered.items()},
                "invocations": invocations,
                "errors_logged": errors.records,
            }
        )

    async def run_function(request: Request) -> Response:
        """POST /admin/functions/{name} {"input": ...}: the host's admin API that runs a function of
        another trigger with the key; a blob trigger's input is the blob's path, which the host reads."""
        function = worker.triggered.get(request.path_params["name"])
        if request.headers.get(KEY_HEADER) != key:
            return Response(status_code=401)
        if function is None:
            return Response(status_code=404)
        given = (await request.json())["input"]
        if function.trigger["type"] == "blobTrigger":
            data, metadata = await asyncio.to_thread(read_blob, function.trigger, given)
        elif function.trigger["type"] == "eventGridTrigger":
            data, metadata = json.loads(given), {}
        else:
            return JSONResponse({"detail": f"the test host cannot run a {function.trigger['type']}"}, 400)
        outcome = asyncio.wrap_future(worker.invoke(worker.trigger_invocation(function, data, metadata)))
        record: dict[str, Any] = {"invocation_id": "", "function": function.name, "input": given}
        invocations.append(record)
        pending.add(outcome)
        outcome.add_done_callback(lambda done: (pending.discard(done), record.update(_outcome(worker, done))))
        return Response(status_code=202)

    async def forward(request: Request) -> Response:
        matched = routes.match(request.method, request.url.path)
        if matched is None:
            return Response(status_code=404)
        function, params = matched
        presented = request.headers.get(KEY_HEADER) or request.query_params.get(KEY_PARAMETER)
        if function.auth_level != "anonymous" and presented != key:
            return Response(status_code=401)
        invocation_id = str(uuid.uuid4())
        trace = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
        outcome = asyncio.wrap_future(worker.invoke(worker.invocation(function, invocation_id, params, trace)))
        record: dict[str, Any] = {"invocation_id": invocation_id, "function": function.name, "route_params": params}
        invocations.append(record)
        pending.add(outcome)
        outcome.add_done_callback(lambda done: (pending.discard(done), record.update(_outcome(worker, done))))
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}]
        headers.append(("x-ms-invocation-id", invocation_id))
        url = f"{worker_uri}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        upstream = client.build_request(request.method, url, headers=headers, content=request.stream())
        answer = await client.send(upstream, stream=True)
        passed = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP | OWN_HEADERS}
        return StreamingResponse(
            answer.aiter_raw(), status_code=answer.status_code, headers=passed, background=BackgroundTask(answer.aclose)
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/admin/host/status", status),
            Route("/admin/functions/{name}", run_function, methods=["POST"]),
            Route("/{path:path}", forward, methods=methods),
        ],
    )


def read_blob(trigger: dict[str, Any], path: str) -> tuple[bytes, dict[str, Any]]:
    """The blob at `path` (container/name), read through the trigger's connection as the host reads
    it, and the trigger metadata the host sends with it (the path pattern's names included)."""
    from azure.storage.blob import BlobClient

    container, _, name = path.partition("/")
    connection = os.environ[trigger.get("connection") or "AzureWebJobsStorage"]
    blob = BlobClient.from_connection_string(connection, container, name)
    properties = blob.get_blob_properties()
    content = blob.download_blob().readall()
    pattern = re.escape(trigger["path"]).replace(r"\{", "{").replace(r"\}", "}")
    names = re.fullmatch(re.sub(r"\{(\w+)\}", r"(?P<\1>.+)", pattern), path)
    metadata = {
        "BlobTrigger": path,
        "Uri": blob.url,
        "Properties": {"Length": properties.size, "ContentType": properties.content_settings.content_type or ""},
        "Metadata": dict(properties.metadata or {}),
        **(names.groupdict() if names else {}),
    }
    return content, metadata


def _outcome(worker: Worker, done: asyncio.Future) -> dict[str, Any]:
    """What the host reads from an InvocationResponse."""
    if done.exception() is not None:
        return {"status": "the worker raised", "exception": repr(done.exception()), "has_return_value": False}
    response = done.result()
    return {
        "status": worker.protos.StatusResult.Status.Name(response.result.status),
        "exception": response.result.exception.message,
        "has_return_value": response.HasField("return_value"),
    }


def serve_front_end(app: Any, port: int) -> threading.Thread:
    import uvicorn

    # No access log of its own: every access line in this process is the worker's.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="host-front-end", daemon=True)
    thread.start()
    return thread


def route_prefix() -> str:
    host = json.loads((ROOT / "host.json").read_text())
    return host.get("extensions", {}).get("http", {}).get("routePrefix", "api").strip("/")


async def run(port: int) -> None:
    os.chdir(ROOT)  # the worker runs in the function app's folder, with it on sys.path
    sys.path.insert(0, str(ROOT))
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    logging.getLogger().setLevel(logging.INFO)  # as the worker's gRPC log handler does
    worker = Worker(compile_protocol(), ROOT)
    await worker.start()
    routes = Routes(route_prefix(), worker.functions)
    serve_front_end(front_end(worker, routes, os.environ["FUNCTIONS_TEST_HOST_KEY"], errors), port)
    await asyncio.Event().wait()  # until the process is stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(run(args.port))


if __name__ == "__main__":
    main()
