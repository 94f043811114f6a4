"""Load test: the local server on 127.0.0.1 with a zero-latency model, so the figures are the
product's own, each beside a reference taken in the same run.

    .venv/bin/python bench/load.py [--before <commit>] [--duration 10] [--requests 200]

It starts the zero-latency model (bench/zero_model.py) and, with that model as the default
alias, a local server for HEAD, for the commit given with --before and for each --variant
(HEAD with other settings); each tree is exported with `git archive` into a temporary folder
and builds its own index of samples/corpus. Every measure runs on every server in turn:

- the overhead over the model call without retrieval: flexible-rag with skip_knowledge_base,
  and an agent with retrieval off, sequential p50, minus the openai SDK's own call to the model;
- flexible-rag with retrieval, sequential p50;
- throughput with wrk (Debian: apt-get install wrk) for --duration seconds each: flexible-rag
  with retrieval at c=8 and c=32, every request a different question (no embedding cached),
  the same question every time, and the references vector_search false and skip_knowledge_base;
- the time to the first byte of a stream with retrieval, v2 and OpenAI-compatible, against
  the model's own first chunk.

Everything it starts listens on 127.0.0.1 and is stopped by its PID. Prints Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.servers import free_port, wait_until_listening  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
AGENT = "0b6f3c1e-8d2a-4f5b-9c7e-1a2b3c4d5e6f"
RAG = "/api/v2/flexible-rag"
AGENT_PATH = f"/api/v1/compatibility/openai/v1/assistants/{AGENT}/chat/completions"
QUESTION = "How many years of warranty does the Zephyr frame have?"
PARTS = ["frame", "battery", "motor", "chain", "brakes", "display", "tyres", "charger", "lights", "saddle"]
_asked = itertools.count()


def new_question() -> str:
    """A question never asked before in this run, so that no embedding comes from a cache."""
    n = next(_asked)
    return f"What does the warranty say about the {PARTS[n % len(PARTS)]} of bike {n}?"


# The PID of each server that process() started, by its port (bench/floor.py reads their CPU time).
SERVER_PIDS: dict[int, int] = {}


@contextlib.contextmanager
def process(command: list[str], port: int, cwd: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """A server for the duration of the block, once it listens on 127.0.0.1:port; stopped by its PID."""
    with tempfile.TemporaryFile() as output:
        child = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=output, stderr=output)
        try:
            try:
                wait_until_listening(child, port, 120, command[-1])
            except RuntimeError:
                output.seek(0)
                raise RuntimeError(output.read().decode(errors="replace")[-3000:]) from None
            SERVER_PIDS[port] = child.pid
            yield
        finally:
            SERVER_PIDS.pop(port, None)
            child.terminate()
            child.wait(timeout=30)


def export_tree(commit: str, into: Path) -> Path:
    """The commit's files in a folder of their own (git archive: the repository is only read)."""
    folder = into / commit
    folder.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def server_env(name: str, model_url: str, data: Path) -> dict[str, str]:
    model = {"alias": "zero", "provider": "openai", "model": "zero", "endpoint": f"{model_url}/v1", "max_retries": 0}
    agent = {"id": AGENT, "name": "no-retrieval", "model": "zero", "retrieval": {"enabled": False}}
    return {
        "LLM_PROVIDER": "none",
        "LLM_MODELS": json.dumps([model]),
        "LLM_DEFAULT_ALIAS": "zero",
        "AGENTS_DEFINITIONS": json.dumps([agent]),
        "SEARCH_INDEX_PATH": str(data / f"index-{name}.sqlite"),
        "HISTORY_SQLITE_PATH": str(data / f"history-{name}.sqlite"),
    }


def p50(call: Callable[[], object], count: int) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def sequential(base: str, model_url: str, count: int) -> dict[str, float]:
    """Sequential p50s, each product measure interleaved with the model's own call: through the
    openai SDK (the issue's reference), and through the plain httpx client the product is asked with."""
    import openai

    sdk = openai.OpenAI(base_url=f"{model_url}/v1", api_key="unused", max_retries=0)
    http = httpx.Client(base_url=base, timeout=30)
    model_http = httpx.Client(base_url=f"{model_url}/v1", timeout=30)  # the client the product is asked with
    messages = [{"role": "user", "content": QUESTION}]
    model_body = {"model": "zero", "messages": messages}
    cases = {
        "model": lambda: sdk.chat.completions.create(model="zero", messages=messages),
        "model, httpx": lambda: model_http.post("/chat/completions", json=model_body).raise_for_status(),
        "skip": lambda: http.post(RAG, json={"question": QUESTION, "skip_knowledge_base": True}).raise_for_status(),
        "agent": lambda: http.post(AGENT_PATH, json={"model": "", "messages": messages}).raise_for_status(),
        "rag": lambda: http.post(RAG, json={"question": new_question()}).raise_for_status(),
        "rag, one question": lambda: http.post(RAG, json={"question": QUESTION}).raise_for_status(),
    }
    for call in cases.values():
        call()  # warm
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(5):  # rounds, so a drifting machine affects every case alike
        for name, call in cases.items():
            results[name].append(p50(call, count // 5))
    return {name: statistics.median(values) for name, values in results.items()}


def first_byte(base: str, model_url: str, count: int) -> dict[str, float]:
    """p50 milliseconds from sending a streaming request to its first body byte."""
    http = httpx.Client(timeout=30)
    messages = [{"role": "user", "content": QUESTION}]
    streams = {
        "model": (f"{model_url}/v1/chat/completions", lambda: {"model": "zero", "messages": messages, "stream": True}),
        "v2": (base + RAG, lambda: {"question": new_question(), "stream": True}),
        "openai": (
            base + "/api/v1/chat/completions",
            lambda: {"model": "zero", "messages": [{"role": "user", "content": new_question()}], "stream": True},
        ),
    }

    def once(url: str, body: Callable[[], dict]) -> None:
        with http.stream("POST", url, json=body()) as response:
            next(response.iter_raw())

    results: dict[str, list[float]] = {name: [] for name in streams}
    for _ in range(5):
        for name, (url, body) in streams.items():
            results[name].append(p50(lambda url=url, body=body: once(url, body), count // 5))
    return {name: statistics.median(values) for name, values in results.items()}


WRK_SCRIPT = """
local parts = {%(parts)s}
local n = 0
function setup(thread) thread:set("offset", (thread_count or 0) * 1000000); thread_count = (thread_count or 0) + 1 end
function request()
  n = n + 1
  local question = %(question)s
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"},
    '{"question": "' .. question .. '"%(extra)s}')
end
"""


def wrk(base: str, connections: int, duration: int, *, distinct: bool, extra: str = "") -> dict[str, float]:
    """Requests per second, latency percentiles (ms) and errors of flexible-rag under wrk."""
    question = (
        '"What does the warranty say about the " .. parts[(n % 10) + 1] .. " of bike " .. (offset + n) .. "?"'
        if distinct
        else json.dumps(QUESTION)
    )
    script = WRK_SCRIPT % {
        "parts": ", ".join(json.dumps(p) for p in PARTS),
        "question": question,
        "path": RAG,
        "extra": extra,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", file.name, base]
        output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=duration + 60).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict[str, float]:
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    latency = {p: float(v) * unit[u] for p, v, u in re.findall(r"^\s*(50|90|99)%\s+([\d.]+)([a-z]+)", output, re.M)}
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return {"rps": rps, "requests": requests, **latency, "errors": errors}


CASES = (  # wrk runs: (name, connections, a new question each request, more request fields)
    ("rag c=8", 8, True, ""),
    ("rag c=32", 32, True, ""),
    ("rag c=8, one question", 8, False, ""),
    ("vector_search false c=8", 8, True, ', "fetch_args": {"AzureSearchFetcher": {"vector_search": false}}'),
    ("skip_knowledge_base c=8", 8, True, ', "skip_knowledge_base": true'),
)


def tool(tree: Path, name: str) -> str:
    """The module of a development tool in `tree`: devtools/ holds them since issue 26, shared/ before."""
    return f"devtools.{name}" if (tree / "devtools" / f"{name}.py").is_file() else f"shared.{name}"


@contextlib.contextmanager
def started(name: str, tree: Path, model_url: str, data: Path, extra_env: dict[str, str]) -> Iterator[str]:
    """The tree's local server, its own index of samples/corpus built first; its base URL."""
    env = {**server_env(name, model_url, data), **extra_env}
    ingest = [PYTHON, "-m", tool(tree, "ingest"), "samples/corpus"]
    subprocess.run(ingest, cwd=tree, env={**os.environ, **env}, check=True)
    port = free_port()
    with process([PYTHON, "-m", tool(tree, "local_server"), "--port", str(port)], port, tree, env):
        yield f"http://127.0.0.1:{port}"


def measure(bases: dict[str, str], model_url: str, args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """Every measure on every server in turn, so that a drifting machine affects them alike."""
    results: dict[str, dict[str, object]] = {name: {} for name in bases}
    for name, base in bases.items():
        results[name]["sequential"] = sequential(base, model_url, args.requests)
        results[name]["first_byte"] = first_byte(base, model_url, args.requests)
    for case, connections, distinct, extra in CASES:
        for name, base in bases.items():
            results[name][case] = wrk(base, connections, args.duration, distinct=distinct, extra=extra)
    return results


def report(trees: dict[str, dict[str, object]]) -> None:
    names = list(trees)
    print(f"| measure | {' | '.join(names)} |")
    print(f"|---|{'---|' * len(names)}")

    def row(label: str, value: Callable[[dict], str]) -> None:
        print(f"| {label} | {' | '.join(value(trees[n]) for n in names)} |")

    row("model call alone (openai SDK), p50", lambda r: f"{r['sequential']['model']:.1f} ms")
    row("overhead, flexible-rag skip_knowledge_base, p50", lambda r: _over(r, "skip"))
    row("overhead, agent with retrieval off, p50", lambda r: _over(r, "agent"))
    row("flexible-rag with retrieval, a new question each time, p50", lambda r: f"{r['sequential']['rag']:.1f} ms")
    row("flexible-rag with retrieval, one question, p50", lambda r: f"{r['sequential']['rag, one question']:.1f} ms")
    for name, *_ in CASES:
        row(
            f"{name}: req/s, p50 / p99, errors",
            lambda r, name=name: (
                f"{r[name]['rps']:.0f} req/s, {r[name].get('50', 0):.0f} / {r[name].get('99', 0):.0f} ms, "
                f"{r[name]['errors']:.0f}"
            ),
        )
    row("first byte of a stream: the model's own, p50", lambda r: f"{r['first_byte']['model']:.1f} ms")
    row("first byte, v2 flexible-rag with retrieval, p50", lambda r: f"{r['first_byte']['v2']:.1f} ms")
    row("first byte, OpenAI-compatible with retrieval, p50", lambda r: f"{r['first_byte']['openai']:.1f} ms")


def _over(results: dict, name: str) -> str:
    sequential = results["sequential"]
    return f"{sequential[name] - sequential['model']:+.1f} ms ({sequential[name]:.1f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a commit to measure beside HEAD, e.g. the one before a change")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:SETTING=VALUE,...",
        help="HEAD once more with these settings, e.g. serial:EMBEDDINGS_POOL_SIZE=1,EMBEDDINGS_CACHE_SIZE=0",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per measure")
    args = parser.parse_args()
    servers = {args.before: (args.before, {})} if args.before else {}
    servers["HEAD"] = ("HEAD", {})
    for variant in args.variant:
        name, _, settings = variant.partition(":")
        servers[f"HEAD, {name}"] = ("HEAD", dict(pair.split("=", 1) for pair in settings.split(",")))
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch, contextlib.ExitStack() as stack:
        data = Path(scratch)
        trees = {commit: export_tree(commit, data) for commit in {commit for commit, _ in servers.values()}}
        model_port = free_port()
        model_url = f"http://127.0.0.1:{model_port}"
        model = [PYTHON, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "zero_model:app"]
        model += ["--host", "127.0.0.1", "--port", str(model_port), "--log-level", "warning", "--no-access-log"]
        stack.enter_context(process(model, model_port, ROOT))
        bases = {
            name: stack.enter_context(started(f"s{i}", trees[commit], model_url, data, env))
            for i, (name, (commit, env)) in enumerate(servers.items())
        }
        results = measure(bases, model_url, args)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load ", end="")
    print(f"{os.getloadavg()[0]:.1f}; wrk -t2, {args.duration} s per run; {args.requests} sequential requests each")
    print()
    report(results)


if __name__ == "__main__":
    main()
