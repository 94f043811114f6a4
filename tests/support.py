"""Helpers shared by tests (no fixtures, no side effects on import)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.recording_server import RecordingServer


def completion(text="Ten years [1].", finish_reason="stop") -> dict:
    """An OpenAI chat completion body answering `text`."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "served-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
    }


def make_orchestrator(**parts):
    """The app's orchestrator wired from its own backends, with `parts` (retriever, chat_model,
    templates, deadline_seconds, ...) replaced: how tests put a failing or scripted part in."""
    from shared import backends
    from shared.core.orchestrator import Orchestrator

    wiring = {
        "retriever": backends.turn_retriever,
        "chat_model": backends.chat_model,
        "templates": backends.template_source(),
        "renderer": backends.template_renderer(),
        "default_system_prompt": "rag_system.jinja2",
        "default_response_template": "response.jinja2",
    }
    return Orchestrator(**{**wiring, **parts})


def remote_model_entry(server, alias: str = "remote", **fields) -> dict:
    """An LLM_MODELS entry for an OpenAI-compatible model served by `server` (a RecordingServer)."""
    return {
        "alias": alias,
        "provider": "openai",
        "model": "m",
        "endpoint": f"{server.url}/v1",
        "max_retries": 0,
    } | fields


def sse_events(lines: Iterable[str]) -> list[tuple[str | None, dict]]:
    """Server-Sent Events as (event name, data) pairs, from the lines of a stream."""
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def json_post_scope(path: str) -> dict:
    """The ASGI scope of a JSON POST to `path`, for tests that play the server's side of a connection."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }


def configured_python(variable: str, what: str) -> str:
    """The interpreter `make test` names in `variable`: required in CI, the test skipped elsewhere."""
    python = os.environ.get(variable)
    if not python:
        if os.environ.get("CI"):
            pytest.fail(f"{variable} is not set: CI must run {what} (make test sets it)")
        pytest.skip(f"{variable} (the Python for {what}) is not set; `make test` sets it")
    return python


@functools.cache
def _funcignore():
    import pathspec

    from shared.config import PROJECT_ROOT

    return pathspec.GitIgnoreSpec.from_lines((PROJECT_ROOT / ".funcignore").read_text().splitlines())


def deployed(relative: str, folder: bool = False) -> bool:
    """Whether the Function App package holds this path of the checkout (.funcignore, read as
    gitignore patterns are: by the path and by each folder above it)."""
    parts = relative.split("/")
    above = ["/".join(parts[:i]) + "/" for i in range(1, len(parts))]
    return not any(_funcignore().match_file(path) for path in [*above, relative + "/" * folder])


def deployed_files() -> list[str]:
    """Every file of the checkout (as it is now: built files too) that the package would hold."""
    from shared.config import PROJECT_ROOT

    files: list[str] = []
    for folder, folders, names in os.walk(PROJECT_ROOT):
        here = Path(folder).relative_to(PROJECT_ROOT)
        folders[:] = [name for name in folders if deployed((here / name).as_posix(), folder=True)]
        files += [path for name in names if deployed(path := (here / name).as_posix())]
        # A link to a folder is not walked into: the package would hold it, so it counts.
        files += [(here / name).as_posix() for name in folders if (Path(folder) / name).is_symlink()]
    return sorted(files)


def rewriting_model(rewrite_status=200, rewrite="frame warranty duration"):
    """A model server answering query-rewrite prompts with `rewrite` and questions with a short answer."""

    def respond(request):
        prompt = request.body["messages"][-1]["content"]
        if "standalone search query" in prompt:
            return (rewrite_status, completion(rewrite) if rewrite_status == 200 else {"error": {"message": "down"}})
        return 200, completion("Ten years [1].")

    return RecordingServer(respond)
