"""The first request after start with a remote default model (every Azure deployment) finds the
model's client and tokenizer built: `import function_app` starts a thread that builds them, as the
Functions host offers no startup hook, and a request that comes while it runs waits for it."""

from __future__ import annotations

import json
import threading

import tiktoken

import function_app  # noqa: F401 - its import starts the warm-up, as the host's does
from shared import backends, telemetry, warmup
from shared.llm import tokens
from shared.llm.openai_chat import OpenAIChatModel
from tests.recording_server import RecordingServer
from tests.support import completion


def test_importing_function_app_starts_the_warm_up():
    assert warmup._thread is not None and warmup._thread.name == "warm-up"


async def test_the_first_request_to_a_remote_model_builds_neither_client_nor_tokenizer(
    client, configure, caplog, monkeypatch
):
    built_by: list[tuple[str, str]] = []  # (what, the thread that built it)

    def spy(what, original):
        def recorded(*args, **kwargs):
            built_by.append((what, threading.current_thread().name))
            return original(*args, **kwargs)

        return recorded

    monkeypatch.setattr(OpenAIChatModel, "__init__", spy("client", OpenAIChatModel.__init__))
    monkeypatch.setattr(tiktoken, "get_encoding", spy("tokenizer", tiktoken.get_encoding))
    # The warm-up is held until the request has arrived: the request comes while it runs, as on
    # Azure, where the call that caused the cold start comes as soon as the host has indexed the app.
    request_arrived = threading.Event()
    configure_telemetry, finished = telemetry.configure, warmup.finished

    def held_until_the_request_arrives() -> bool:
        if threading.current_thread().name == "warm-up":
            request_arrived.wait()
        return configure_telemetry()

    def arrived():
        request_arrived.set()
        return finished()

    monkeypatch.setattr(telemetry, "configure", held_until_the_request_arrives)
    monkeypatch.setattr(warmup, "finished", arrived)
    monkeypatch.setattr(warmup, "WAIT_SECONDS", 300)  # however slow the machine, the request waits
    monkeypatch.setattr(warmup, "_thread", None)  # as in a fresh process

    with RecordingServer(lambda request: (200, completion())) as server:
        models = [{"alias": "remote", "provider": "openai", "model": "m", "endpoint": f"{server.url}/v1"}]
        configure(LLM_MODELS=json.dumps(models), LLM_DEFAULT_ALIAS="remote", LLM_ANSWER_STRATEGY="generative")
        tokens.encoding.cache_clear()
        with caplog.at_level("INFO", logger="warmup"):
            thread = warmup.start()
            response = await client.post("/api/v2/flexible-rag", json={"question": "How long is the warranty?"})
            request_arrived.set()  # had the request not come through `finished`, the warm-up would still be held
            thread.join()

    assert response.status_code == 200, response.text
    # Both were built once, by the warm-up thread, not on the request's path.
    assert sorted(built_by) == [("client", "warm-up"), ("tokenizer", "warm-up")]
    assert (backends._chat_model.cache_info().misses, tokens.encoding.cache_info().misses) == (1, 1)
    # The whole warm-up ran: every module of the first answer's path was found, the templates parsed.
    assert [r.levelname for r in caplog.records if r.name == "warmup"] == ["INFO"], caplog.text
    assert len(server.requests) == 1 and server.requests[0].path == "/v1/chat/completions"
