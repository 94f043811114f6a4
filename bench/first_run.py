"""A newcomer's first run: a fresh clone, empty caches, `make run`, the README's question.

    .venv/bin/python bench/first_run.py [--source .] [--keep]

Clones the repository (its committed HEAD) into a temporary folder and runs `make run` there
with every download cache pointed at new empty folders (pip, npm, the llama.cpp wheel cache,
tiktoken's), as a machine that never built the project has them. It polls the README's
question until it is answered with a citation and prints the seconds from `make run` to the
server listening and to that answer, then stops `make run` and the llama.cpp build it started
in the background (by their process group) and removes the folder unless --keep or
the question went unanswered.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402
from devtools.servers import free_port  # noqa: E402

QUESTION = {"question": "How many years of warranty does the frame have?"}


def empty_caches(home: Path) -> dict[str, str]:
    """Environment variables that point every download cache the setup uses at empty folders."""
    caches = home / "cache"
    return {
        "XDG_CACHE_HOME": str(caches),
        "PIP_CACHE_DIR": str(caches / "pip"),
        "npm_config_cache": str(caches / "npm"),
        "LLAMA_WHEEL_CACHE": str(caches / "llama"),
        "TIKTOKEN_CACHE_DIR": str(caches / "tiktoken"),
    }


def answered(port: int) -> bool:
    try:
        reply = httpx.post(f"http://127.0.0.1:{port}/api/v2/flexible-rag", json=QUESTION, timeout=30)
    except httpx.HTTPError:
        return False
    return reply.status_code == 200 and "[1]" in (reply.json().get("answer") or "")


def listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/v2/models", timeout=2)
    except httpx.HTTPError:
        return False
    return True


def seconds(elapsed: float | None) -> str:
    return "never" if elapsed is None else f"{elapsed:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=str(ROOT), help="the repository to clone")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help="keep the clone and its log")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="first-run-"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", args.source, str(clone)], check=True)
    port = free_port()
    log = (work / "make-run.log").open("w")
    env = {**os.environ, **empty_caches(work), "PORT": str(port)}
    env.pop("VIRTUAL_ENV", None)
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; log: {log.name}")
    started = time.monotonic()
    make = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ready = answer = None
    try:
        while time.monotonic() - started < args.timeout and make.poll() is None:
            if ready is None and listening(port):
                ready = time.monotonic() - started
            if ready is not None and answered(port):
                answer = time.monotonic() - started
                break
            time.sleep(1)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)
        # The llama.cpp build was detached with nohup into its own group: stop it by its clone's path.
        subprocess.run(["pkill", "-f", f"{clone}/"], check=False)
        if not args.keep and answer is not None:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    print(f"load at the end {os.getloadavg()[0]:.1f}")
    print("| measure | seconds |\n|---|---|")
    print(f"| `make run` until the server listens | {seconds(ready)} |")
    print(f"| `make run` until the README's question is answered with a citation | {seconds(answer)} |")
    if answer is None:
        sys.exit(f"no answer within {args.timeout:.0f} s (make exited {make.returncode}); see {log.name}")


if __name__ == "__main__":
    main()
