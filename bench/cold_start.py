"""Cold-start figures: `import function_app` in fresh processes, and the first request after start,
with the embedded model and with a remote one (bench/zero_model.py, a zero-latency
OpenAI-compatible server, standing in for Azure OpenAI).

    .venv/bin/python bench/cold_start.py [--runs 20]

Prints a Markdown table for docs/performance.md. Run it on an idle machine; it starts
the local server on a free 127.0.0.1 port and stops it (by its PID) when done. With the remote
model, nothing but `import function_app` prepares the model, as on Azure: the import starts the
warm-up thread (shared/warmup.py), and the local server's startup loads the embedder and the index
(remote services on Azure) and waits for that thread before it listens. How long the thread takes
from the start of the import is measured on its own: on Azure, a request arriving at once waits
at most that long.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402
from devtools.servers import free_port, running_in_background, serving  # noqa: E402

# Two different questions: llama.cpp reuses its cache for a repeated prompt, which would flatter the second.
QUESTIONS = ["How many years of warranty does the frame have?", "How long does a full battery charge take?"]


# What any app using the HTTP streaming extension imports before a line of its own code.
FLOOR = "import azure.functions, azurefunctions.extensions.http.fastapi"


def import_times(statements: list[str], runs: int) -> list[list[float]]:
    """Seconds per fresh-process run of each statement, interleaved so that drift in the
    machine's speed affects all of them alike."""
    times: list[list[float]] = [[] for _ in statements]
    for _ in range(runs):
        for statement, samples in zip(statements, times, strict=True):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True)
            samples.append(time.perf_counter() - started)
    return times


def own_import_times(runs: int) -> tuple[list[float], list[float]]:
    """Seconds for `import function_app` alone, with the floor's modules already imported: the wall
    time, and the importing thread's CPU time (which other work on a shared machine disturbs less;
    the warm-up thread it starts is not counted)."""
    probe = (
        f"{FLOOR}; import time; t, c = time.perf_counter(), time.thread_time(); import function_app; "
        "print(time.perf_counter() - t, time.thread_time() - c)"
    )
    pairs = [
        subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.split()
        for _ in range(runs)
    ]
    return [float(wall) for wall, _ in pairs], [float(cpu) for _, cpu in pairs]


def warm_up_times(runs: int) -> list[float]:
    """Seconds from the start of `import function_app` until its warm-up thread is done, with a remote
    default model (fresh processes; the endpoint is never called): on Azure, the longest a request that
    arrives at once waits for it."""
    probe = (
        f"{FLOOR}; import time; t = time.perf_counter(); import function_app; from shared import warmup; "
        "warmup.start().join(); print(time.perf_counter() - t)"
    )
    env = {**os.environ, **remote_model_env("http://127.0.0.1:9/v1")}
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", probe], cwd=ROOT, env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(runs)
    ]


def remote_model_env(endpoint: str) -> dict[str, str]:
    """The settings making an OpenAI-compatible server at `endpoint` the default model, answering generatively."""
    model = {"alias": "zero", "provider": "openai", "model": "zero", "endpoint": endpoint}
    return {"LLM_MODELS": json.dumps([model]), "LLM_DEFAULT_ALIAS": "zero", "LLM_ANSWER_STRATEGY": "generative"}


def first_request(env: dict[str, str] | None = None, client_warm_up: str | None = None) -> tuple[float, float, float]:
    """(seconds until the server accepts, first request, second request), over one kept client.
    With `client_warm_up`, the client first calls that URL (another server): its own first use
    (httpx's lazy imports, ~40 ms) is then not counted in the server's first request."""
    with httpx.Client(timeout=120) as client:
        if client_warm_up:
            client.get(client_warm_up)
        started = time.perf_counter()
        with running_in_background(env=env) as base_url:
            ready = time.perf_counter() - started
            timings = []
            for question in QUESTIONS:
                t = time.perf_counter()
                response = client.post(f"{base_url}/api/v2/flexible-rag", json={"question": question})
                response.raise_for_status()
                timings.append(time.perf_counter() - t)
                STAGES.append(response.json()["timings"])
    return ready, timings[0], timings[1]


# The stages' seconds each request reported (its `timings`), in the order the requests were made.
STAGES: list[dict[str, float]] = []


def first_remote_request() -> tuple[float, float, float]:
    """first_request with the default model a zero-latency OpenAI-compatible server."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "zero_model:app"]
    with serving([*command, "--host", "127.0.0.1", "--port", str(port)], port, "the zero-latency model"):
        endpoint = f"http://127.0.0.1:{port}/v1"
        return first_request(remote_model_env(endpoint), client_warm_up=f"{endpoint}/models")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--remote-only", action="store_true", help="skip the embedded model's first request")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    imports, floor, bare = import_times(["import function_app", FLOOR, "pass"], args.runs)
    own, own_cpu = own_import_times(args.runs)
    warm_up = warm_up_times(args.runs)
    ready, first, second = (0.0, 0.0, 0.0) if args.remote_only else first_request()
    remote_ready, remote_first, remote_second = first_remote_request()
    cpu = cpu_model()
    print(
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(
        f"| `import function_app`, fresh process, median of {args.runs} | {statistics.median(imports) * 1000:.0f} ms |"
    )
    print(f"| `import function_app`, fastest of {args.runs} | {min(imports) * 1000:.0f} ms |")
    print(f"| floor: `{FLOOR}`, median | {statistics.median(floor) * 1000:.0f} ms |")
    print(f"| this project's own share (floor preloaded), median | {statistics.median(own) * 1000:.0f} ms |")
    print(f"| its importing thread's CPU time, median | {statistics.median(own_cpu) * 1000:.0f} ms |")
    print(f"| bare interpreter start (`python -c pass`), median | {statistics.median(bare) * 1000:.0f} ms |")
    if not args.remote_only:
        print(f"| local server start until it accepts connections | {ready * 1000:.0f} ms |")
        print(f"| first /api/v2/flexible-rag request (loads model, embedder, index) | {first * 1000:.0f} ms |")
        print(f"| second request (another question, everything loaded) | {second * 1000:.0f} ms |")
    print(
        f"| remote model: `import function_app` start to its warm-up thread done, median | "
        f"{statistics.median(warm_up) * 1000:.0f} ms |"
    )
    print(f"| remote model: local server start until it accepts connections | {remote_ready * 1000:.0f} ms |")
    print(f"| remote model: first /api/v2/flexible-rag request | {remote_first * 1000:.0f} ms |")
    print(f"| remote model: second request | {remote_second * 1000:.0f} ms |")
    print(f"| remote model: first over second | {(remote_first - remote_second) * 1000:+.0f} ms |")
    for stage in ("orchestrator.prompt_build", "orchestrator.llm_generate"):
        first_stage, second_stage = (STAGES[-2].get(stage, 0) * 1000, STAGES[-1].get(stage, 0) * 1000)
        print(f"| remote model: `{stage}`, first / second request | {first_stage:.1f} / {second_stage:.1f} ms |")
    print()
    print(json.dumps({"import_ms": [round(t * 1000) for t in imports]}))


if __name__ == "__main__":
    main()
