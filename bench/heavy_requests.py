"""Issue 24's heavy requests against the local server: how long each takes, what it answers,
and how long cheap requests (GET /api/v2/models) wait while it is in flight.

    .venv/bin/python bench/heavy_requests.py [--root DIR] [--timeout 90] [--only NAME]

Each payload gets a fresh server (a request the server cannot refuse could keep it busy for
minutes), started from --root (default: this checkout; point it at an export of another
commit to measure that one) on a free 127.0.0.1 port and stopped by its PID. Prints a
Markdown table for docs/performance.md. The server reads the environment's settings
(SEARCH_INDEX_PATH: an index `python -m devtools.ingest` built from samples/corpus).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.heavy_requests import AT_THE_LIMITS, CHEAP, RED_TEAM  # noqa: E402
from devtools.servers import free_port, wait_until_listening  # noqa: E402


async def measure(base_url: str, path: str, body: bytes, timeout: float) -> dict:
    """The heavy request's seconds, status and answer size; the cheap requests' count and longest wait."""
    waits: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
        started = time.perf_counter()
        heavy = asyncio.create_task(http.post(path, content=body, headers={"content-type": "application/json"}))
        while not heavy.done() and time.perf_counter() - started < timeout:
            sent = time.perf_counter()
            with contextlib.suppress(httpx.TimeoutException):
                await http.get(CHEAP)
            waits.append(time.perf_counter() - sent)
        try:
            response = await asyncio.wait_for(heavy, max(0.1, timeout - (time.perf_counter() - started)))
            status, size = str(response.status_code), len(response.content)
        except (TimeoutError, httpx.TimeoutException):
            status, size = f"no answer in {timeout:.0f} s", 0
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "status": status, "bytes": size, "cheap": len(waits), "longest": max(waits, default=0)}


def serve(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.local_server", "--port", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_listening(process, port, 400, "the local server")
    return process, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose server is measured")
    parser.add_argument("--timeout", type=float, default=90, help="seconds to wait for a heavy request")
    parser.add_argument("--only", help="measure only the payload whose name contains this")
    args = parser.parse_args()
    print(f"root: {args.root}\n")
    print("| request | seconds | status | answer bytes | cheap answered meanwhile | longest cheap wait (s) |")
    print("|---|---|---|---|---|---|")
    for name, (path, body, _, _) in {**RED_TEAM, **AT_THE_LIMITS}.items():
        if args.only and args.only not in name:
            continue
        process, base_url = serve(args.root)
        try:
            row = asyncio.run(measure(base_url, path, json.dumps(body).encode(), args.timeout))
        finally:
            process.kill()  # a server still busy with the request would not stop on a signal it handles
            process.wait(timeout=30)
        print(
            f"| {name} | {row['seconds']:.2f} | {row['status']} | {row['bytes']:,} | {row['cheap']} "
            f"| {row['longest']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
