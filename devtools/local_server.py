"""Serve function_app locally, for machines without Azure Functions Core Tools.

It serves exactly the HTTP functions that function_app.py registers: routes and methods
come from the app's own function metadata, under host.json's route prefix (/api by
default), matched like the Functions host matches them. Function keys are not checked, as
under `func start`; the access log masks them (and any other key or token in a query string:
the pages are opened with `?code=<key>`), as function_app has it do on Azure too.

    python -m devtools.local_server [--host 127.0.0.1] [--port 7071]

With DOCUMENTS_WATCH=true it also keeps the index in step with the document folder (or
container), as the blob trigger does on Azure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import importlib
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from shared.config import PROJECT_ROOT


def route_prefix() -> str:
    host = json.loads((PROJECT_ROOT / "host.json").read_text())
    return host.get("extensions", {}).get("http", {}).get("routePrefix", "api").strip("/")


@functools.cache
def app_functions() -> list:
    """function_app's registered functions. get_functions() raises when called twice: keep its result."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    return importlib.import_module("function_app").app.get_functions()


@contextlib.asynccontextmanager
async def _warm(app: Starlette) -> AsyncIterator[None]:
    from devtools.warmup import warm_up

    await warm_up(app, route_prefix())  # before the socket opens: the first request finds everything loaded
    # What startup allocated lives as long as the server: out of the collector's way, so that
    # no early request pays for a full collection of it.
    gc.collect()
    gc.freeze()
    watcher = _watch_documents()
    yield
    if watcher is not None:
        watcher.cancel()


def _watch_documents() -> asyncio.Task | None:
    """DOCUMENTS_WATCH: keep the index in step with the document folder or container while serving,
    through the handler the blob trigger calls on Azure."""
    from shared.config import get_settings

    settings = get_settings().documents
    if not settings.watch:
        return None
    from shared.backends import document_sync

    where = settings.dir if settings.store == "files" else f"container {settings.container}"
    interval = settings.watch_interval_seconds
    logging.getLogger("local_server").info("watching %s for documents every %s s", where, interval)
    return asyncio.create_task(document_sync().watch(interval))


class HostRoute(Route):
    """A route matched as the Functions host matches it (ASP.NET Core routing): literal segments
    in any case, with or without a trailing slash, and only for the function's own methods, HEAD
    not added to GET; another method is a 404, as no function matches it. Starlette alone would
    answer 404, 307, 200 and 405."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *, methods: list[str] | None, **options: Any) -> None:
        super().__init__(path, endpoint, methods=methods, **options)
        if methods:  # none declared: every method, as for the host
            self.methods = {m.upper() for m in methods}
        self.path_regex = re.compile(self.path_regex.pattern.removesuffix("$") + "/?$", re.IGNORECASE)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        return (Match.NONE, {}) if match is Match.PARTIAL else (match, child_scope)


def build_app(*, warm: bool = False) -> Starlette:
    """The app's HTTP functions as Starlette routes; `warm` loads the heavy backends at startup."""
    prefix = route_prefix()
    routes = []
    for function in app_functions():
        trigger = function.get_trigger()
        if trigger.type != "httpTrigger":
            continue
        path = "/" + "/".join(part for part in (prefix, trigger.route.strip("/")) if part)
        methods = [str(m.value if hasattr(m, "value") else m) for m in trigger.methods or ()] or None
        routes.append(HostRoute(path, function.get_user_function(), methods=methods, name=function.get_function_name()))
    return Starlette(
        routes=routes,
        middleware=_cors(),
        lifespan=_warm if warm else None,
        exception_handlers={404: _no_function},
    )


async def _no_function(request: Request, exc: Exception) -> Response:
    """No function for this method and path: the host's empty 404."""
    return Response(status_code=404)


def _cors() -> list[Middleware]:
    """CORS for HTTP_CORS_ALLOWED_ORIGINS (none by default), as the Function App's own CORS does on Azure."""
    from shared.config import get_settings

    origins = get_settings().http.cors_allowed_origins
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", "accept", "x-functions-key", "x-correlation-id"],
            expose_headers=["x-correlation-id", "x-session-id"],
            max_age=600,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import uvicorn

    app = build_app(warm=True)
    for route in app.routes:
        logging.getLogger("local_server").info("%s %s", ",".join(sorted(route.methods or [])), route.path)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
