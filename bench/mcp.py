"""What the MCP endpoint costs: a `tools/call` of `search` against the same search through
/api/v2/flexible-rag (retrieval on, extractive answer: no model call), on the local server.

    .venv/bin/python bench/mcp.py [--requests 300]

It indexes samples/corpus into a temporary folder, starts the local server on a free
127.0.0.1 port (stopped by its PID), warms both paths, then sends the two requests in
turn, one at a time over one keep-alive connection, the same question each time (its
embedding is cached after the first: the figures are the HTTP, protocol and search costs).
Also measured: `ping` and `tools/list` (the transport alone). Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.servers import running_in_background  # noqa: E402

QUESTION = "How many years of warranty does the frame have?"
TOP = 5
HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}


def rpc(method: str, params: dict | None = None) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": method, **({"params": params} if params else {})}


def measures(client: httpx.Client) -> dict[str, Callable[[], httpx.Response]]:
    rag = {"question": QUESTION, "skip_knowledge_base": False, "fetch_args": {"AzureSearchFetcher": {"top_k": TOP}}}
    search = rpc("tools/call", {"name": "search", "arguments": {"query": QUESTION, "top": TOP}})
    return {
        "flexible-rag (retrieval, extractive answer)": lambda: client.post("/api/v2/flexible-rag", json=rag),
        "MCP tools/call search": lambda: client.post("/api/mcp", json=search, headers=HEADERS),
        "MCP tools/list": lambda: client.post("/api/mcp", json=rpc("tools/list"), headers=HEADERS),
        "MCP ping": lambda: client.post("/api/mcp", json=rpc("ping"), headers=HEADERS),
    }


def check(response: httpx.Response) -> None:
    """A 200 that is neither a JSON-RPC error nor a tool's error."""
    response.raise_for_status()
    body = response.json()
    failed = "error" in body or body.get("result", {}).get("isError") or body.get("errors")
    if failed:
        raise RuntimeError(response.text[:500])


def run(requests: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as data:
        env = {"SEARCH_INDEX_PATH": f"{data}/index.sqlite", "HISTORY_SQLITE_PATH": f"{data}/history.sqlite"}
        subprocess.run(
            [sys.executable, "-m", "devtools.ingest", "samples/corpus"],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        with running_in_background(startup_timeout=120, env=env) as base_url, httpx.Client(base_url=base_url) as client:
            calls = measures(client)
            for call in calls.values():  # warm: the embedding cached, every path's imports done
                for _ in range(20):
                    check(call())
            samples: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(requests):  # interleaved, so that both see the same machine
                for name, call in calls.items():
                    started = time.perf_counter()
                    response = call()
                    samples[name].append(time.perf_counter() - started)
                    response.raise_for_status()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    samples = run(args.requests)
    print(
        f"{args.requests} requests each, sequential, one connection; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    print("| request | p50 ms | mean ms | p90 ms |\n|---|---|---|---|")
    for name, values in samples.items():
        ms = sorted(v * 1000 for v in values)
        print(f"| {name} | {statistics.median(ms):.2f} | {statistics.fmean(ms):.2f} | {ms[int(len(ms) * 0.9)]:.2f} |")
    rag, mcp = (statistics.median(samples[n]) * 1000 for n in list(samples)[:2])
    print(f"\nMCP search minus flexible-rag, p50: {mcp - rag:+.2f} ms (target: at most +2 ms)")


if __name__ == "__main__":
    main()
