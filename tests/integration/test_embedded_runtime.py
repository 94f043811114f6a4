"""The embedded model's runtime: a portable llama.cpp build, a worker process that cannot take
the API down, deadlines that really stop a generation, and a server that loads before it listens."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from devtools.servers import running_in_background
from shared import backends
from shared.core.errors import UpstreamError
from shared.core.types import GenerationParams, Message
from tests.support import sse_events

# AMX tile instructions, and the registers only AVX-512 code uses (zmm, opmask k1-k7).
NOT_PORTABLE = re.compile(
    r"\b(ldtilecfg|sttilecfg|tileloadd\w*|tilestored|tilezero|tdpb\w+|tdpfp16ps)\b|%zmm\d+|%k[1-7]\b"
)
AVX2 = re.compile(r"%ymm\d+")
RAG = "/api/v2/flexible-rag"
# These tests are about the model's process, so the model writes every answer (no extractive answers).
GENERATIVE = {"LLM_ANSWER_STRATEGY": "generative"}
LONG = GenerationParams(max_tokens=1500, temperature=0.8)


def llama_cpp_libraries() -> list[Path]:
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.submodule_search_locations, "llama-cpp-python is not installed"
    root = Path(spec.submodule_search_locations[0])
    return sorted({path.resolve() for path in root.rglob("*.so*") if path.is_file()})


def test_the_installed_llama_cpp_has_no_avx512_or_amx_code():
    """Portability is a property of the binaries: any x86-64-v3 CPU can run every instruction in them."""
    if os.uname().machine not in ("x86_64", "amd64"):
        pytest.skip("the instruction check reads x86-64 code")
    objdump = shutil.which("objdump")
    assert objdump, "objdump (binutils) is needed to check the llama.cpp build"
    libraries = llama_cpp_libraries()
    assert any(path.name.startswith("libggml-cpu") for path in libraries), libraries
    vector_code = 0
    for library in libraries:
        code = subprocess.run(
            [objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True, check=True
        ).stdout
        offending = sorted({match.group(0) for match in NOT_PORTABLE.finditer(code)})
        assert not offending, f"{library.name} holds AVX-512/AMX code: {offending[:10]}"
        vector_code += len(AVX2.findall(code))
    assert vector_code > 1000  # the check read real code: the AVX2 kernels are there


def embedded_model():
    model = backends.chat_model()
    assert model.info.provider == "embedded"
    return model


async def wait_for(condition, what: str, limit: int = 1000) -> None:
    """Poll a condition on state (never a time budget of the machine's speed)."""
    for _ in range(limit):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def worker_of_server(base_url: str) -> int:
    """The pid of the embedded model worker that the local server on this URL runs."""
    port = base_url.rsplit(":", 1)[1]
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    argv = {int(p.name): _cmdline(p) for p in procs}
    server = next(pid for pid, args in argv.items() if "devtools.local_server" in args and port in args)
    return next(pid for pid, args in argv.items() if "shared.llm.embedded_worker" in args and _parent(pid) == server)


def _cmdline(proc: Path) -> list[str]:
    try:
        return proc.joinpath("cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_worker_killed_mid_stream_gives_the_fallback_and_the_server_goes_on(sample_index):
    body = {"question": "Tell a long story about bicycles.", "skip_knowledge_base": True, "stream": True}
    body["override_config"] = {"params": {"max_tokens": 400}}
    with running_in_background(env=GENERATIVE) as base_url:
        worker = worker_of_server(base_url)
        with httpx.stream("POST", f"{base_url}{RAG}", json=body, timeout=120) as response:
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("event: delta"):
                    os.kill(worker, signal.SIGSEGV)  # as a native crash would
                    break
            rest = "\n".join(lines)
        after = httpx.post(
            f"{base_url}{RAG}", json={"question": "Say hello.", "skip_knowledge_base": True}, timeout=120
        )
        replacement = worker_of_server(base_url)

    assert response.status_code == 200
    final = [data for name, data in sse_events(rest.splitlines()) if name in ("final", "error")][-1]
    assert [e["code"] for e in final["errors"]] == ["model_failed"]
    assert after.status_code == 200  # the same server answers the next request, with a new worker
    assert after.json()["errors"] == [] and after.json()["answer"]
    assert replacement != worker


async def test_a_crash_during_an_openai_compatible_request_is_a_503_and_the_server_goes_on(client, configure):
    configure(**GENERATIVE)
    model = embedded_model()
    await model.start()
    poem = [{"role": "user", "content": "Write a long poem."}]
    body = {"model": model.info.alias, "messages": poem, "max_tokens": 400}
    request = asyncio.create_task(client.post("/api/v1/chat/completions", json=body))
    await wait_for(lambda: model.worker.generating, "the worker begins the request")
    os.kill(model.worker.pid, signal.SIGKILL)
    response = await request

    assert response.status_code == 503
    assert "Traceback" not in response.text
    body["messages"][0]["content"] = "Say hi."
    again = await client.post("/api/v1/chat/completions", json=body)
    assert again.status_code == 200 and again.json()["choices"][0]["message"]["content"]


def long_answer(model, params: GenerationParams | None = None):
    return model.complete([Message("user", "Write a long story about a lighthouse.")], params or LONG)


async def test_requests_waiting_behind_a_crash_are_answered_by_the_next_worker(configure):
    configure(**GENERATIVE)
    model = embedded_model()
    await model.start()
    crashed = asyncio.create_task(long_answer(model))
    await wait_for(lambda: model.worker.generating, "the worker begins the first request")
    waiting = asyncio.create_task(long_answer(model, GenerationParams(max_tokens=8)))
    await wait_for(lambda: len(model.worker._pending) == 2, "the second request waits its turn")
    os.kill(model.worker.pid, signal.SIGKILL)

    with pytest.raises(UpstreamError):
        await crashed
    answer = await waiting  # handed to the new worker, not failed with the first
    assert answer.text and answer.usage.completion <= 8


async def test_cancelling_a_waiting_request_leaves_the_one_being_generated_alone(configure):
    configure(**GENERATIVE)
    model = embedded_model()
    await model.start()
    kills = model.worker.stats.kills
    generating = asyncio.create_task(long_answer(model, GenerationParams(max_tokens=48)))
    await wait_for(lambda: model.worker.generating, "the worker begins the first request")
    waiting = asyncio.create_task(long_answer(model))
    await wait_for(lambda: len(model.worker._pending) == 2, "the second request waits its turn")
    waiting.cancel()

    assert (await generating).text  # not killed for the other's cancel
    await wait_for(lambda: not model.worker.in_flight, "the cancelled request is dropped")
    assert model.worker.stats.kills == kills


async def test_the_turn_deadline_stops_the_embedded_generation(client, configure):
    configure(HTTP_DEADLINE_SECONDS="1", **GENERATIVE)
    model = embedded_model()
    await model.start()
    stops = len(model.worker.stats.stop_seconds)
    body = {"question": "Count from 1 to 2000, separated by commas.", "skip_knowledge_base": True}
    body["override_config"] = {"params": {"max_tokens": 3500, "temperature": 0}}
    response = await client.post(RAG, json=body)

    assert [e["code"] for e in response.json()["errors"]] == ["deadline_exceeded"]
    await wait_for(lambda: len(model.worker.stats.stop_seconds) > stops, "the worker stops generating")
    # The worker stops at its next token, or is killed after a 0.5 s grace: never runs on to max_tokens.
    assert model.worker.stats.stop_seconds[-1] < 1.0
    assert not model.worker.in_flight


async def test_a_hung_worker_is_killed_at_the_deadline_and_replaced(client, configure):
    configure(HTTP_DEADLINE_SECONDS="1", **GENERATIVE)
    model = embedded_model()
    await model.start()
    kills, hung = model.worker.stats.kills, model.worker.pid
    body = {"question": "Write a long essay.", "skip_knowledge_base": True}
    body["override_config"] = {"params": {"max_tokens": 2000}}
    request = asyncio.create_task(client.post(RAG, json=body))
    await wait_for(lambda: model.worker.generating, "the worker begins the request")
    os.kill(hung, signal.SIGSTOP)  # a hang: the worker neither answers nor takes the cancel
    response = await request

    assert [e["code"] for e in response.json()["errors"]] == ["deadline_exceeded"]
    await wait_for(lambda: model.worker.stats.kills == kills + 1, "the hung worker is killed")
    await wait_for(lambda: model.worker.pid not in (None, hung), "a new worker runs")
    configure(HTTP_DEADLINE_SECONDS="60", **GENERATIVE)
    after = await client.post(RAG, json={"question": "Say hello.", "skip_knowledge_base": True})
    assert after.json()["errors"] == [] and after.json()["answer"]


def test_the_local_server_loads_everything_before_it_serves(sample_index, caplog):
    from starlette.testclient import TestClient

    from devtools.local_server import build_app

    backends.chat_model().worker.close()
    caplog.set_level(logging.INFO)
    with TestClient(build_app(warm=True)) as client:  # runs the startup, as uvicorn does before listening
        assert backends.chat_model().worker.pid is not None  # loaded before any request
        messages = [record.getMessage() for record in caplog.records if record.name == "warmup"]
        response = client.post(RAG, json={"question": "How long does a full charge take?"})

    assert "loading the embedded chat model" in messages
    assert "loading the search index, the embedding model and a first answer" in messages
    assert messages[-1].startswith("ready in ")
    assert response.status_code == 200 and response.json()["metadata"]
