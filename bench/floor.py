"""The product against the physical floor (bench/floor_server.py), in the same run.

    .venv/bin/python bench/floor.py [--before <commit>] [--rounds 3] [--duration 8] [--requests 200]

It starts the zero-latency model (bench/zero_model.py), the local server for HEAD (and for
the commit given with --before, each tree exported with `git archive` and indexing
samples/corpus into its own file), and the floor server reading HEAD's index. Then, every
measure run on every server in turn, round after round (the machine drifts):

- flexible-rag at c=8 with wrk, the same question every time (its embedding cached), against
  the floor doing the same work at c=8: requests per second, and the CPU time each server's
  process spent per request (its threads included), which other work on a shared machine
  disturbs far less than the rate. The floor calls the model with httpx, as the issue defined
  it; a second floor calls it with aiohttp, which the product's model calls have gone through
  since, and its ratios are given too;
- the overhead over the model call without retrieval (bench/load.py's sequential p50s), over the
  call through the openai SDK (the issue's reference) and through the plain httpx client the
  product's own requests are sent with (the same client on both sides);
- `orchestrator.llm_generate` as flexible-chat reports it, p50, for one question against one
  with 52 history messages.

Everything listens on 127.0.0.1 and is stopped by its PID. Prints Markdown with the machine
and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import operator
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    PYTHON,
    QUESTION,
    SERVER_PIDS,
    export_tree,
    parse_wrk,
    process,
    sequential,
    started,
)
from bench.machine import cpu_model  # noqa: E402
from devtools.servers import free_port  # noqa: E402

# The floors by name, each with the client it calls the model with.
FLOORS = {"floor": "httpx", "aiohttp floor": "aiohttp"}
HISTORY = [
    {"role": "user" if n % 2 == 0 else "assistant", "content": f"Turn {n}: what about the frame's paint and rust?"}
    for n in range(52)
]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its threads so far (Linux: /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_post(url: str, body: dict, duration: int) -> dict[str, float]:
    """Requests per second, latency percentiles and the server's CPU milliseconds per request of
    one JSON POST, repeated, at c=8."""
    pid = SERVER_PIDS[httpx.URL(url).port]
    script = (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = ["wrk", "-t2", "-c8", f"-d{duration}s", "--latency", "-s", file.name, url]
        cpu = cpu_seconds(pid)
        output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=duration + 60).stdout
        cpu = cpu_seconds(pid) - cpu
    result = parse_wrk(output)
    return {**result, "cpu_ms": cpu * 1000 / result["requests"]}


def llm_generate(base: str, history: list[dict], count: int) -> float:
    """p50 milliseconds of `orchestrator.llm_generate` in flexible-chat's reported timings."""
    samples = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(count + 1):
            body = {"question": QUESTION, "history": history}
            response = client.post("/api/v2/flexible-chat", json=body)
            response.raise_for_status()
            samples.append(response.json()["timings"]["orchestrator.llm_generate"] * 1000)
    return statistics.median(samples[1:])  # the first warms this history's token counts


@contextlib.contextmanager
def floor(index: Path, model_url: str, client: str) -> Iterator[str]:
    port = free_port()
    command = [PYTHON, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "floor_server:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    command += ["--log-level", "warning", "--no-access-log"]
    env = {"FLOOR_INDEX": str(index), "FLOOR_MODEL_URL": f"{model_url}/v1", "FLOOR_CLIENT": client}
    with process(command, port, ROOT, env):
        yield f"http://127.0.0.1:{port}"


def measure(bases: dict[str, str], floors: dict[str, str], model_url: str, args: argparse.Namespace) -> dict[str, dict]:
    """Each measure's values, one per round, for each server."""
    results: dict[str, dict[str, list]] = {name: {} for name in [*bases, *floors]}
    rag = {"question": QUESTION}
    # Each product next to the httpx floor (the one the target is set against), so that a machine
    # drifting within a round moves a product and that floor alike: before, floor, HEAD, aiohttp floor.
    products = [(name, f"{base}/api/v2/flexible-rag") for name, base in bases.items()]
    floor_urls = [(name, f"{url}/floor") for name, url in floors.items()]
    urls = dict([*products[:1], *floor_urls[:1], *products[1:], *floor_urls[1:]])
    for _ in range(args.rounds):
        for name, url in urls.items():
            measured = wrk_post(url, rag, args.duration)
            for key in ("rps", "cpu_ms"):
                results[name].setdefault(key, []).append(measured[key])
        for name, base in bases.items():
            run = results[name]
            times = sequential(base, model_url, args.requests)
            for case in ("model", "model, httpx", "skip", "agent"):
                run.setdefault(case, []).append(times[case])
            run.setdefault("one", []).append(llm_generate(base, [], args.requests // 4))
            run.setdefault("long", []).append(llm_generate(base, HISTORY, args.requests // 4))
    return results


def report(rounds: dict[str, dict[str, list]]) -> None:
    results = {name: {k: statistics.median(v) for k, v in run.items()} for name, run in rounds.items()}
    products = [name for name in results if name not in FLOORS]
    print(f"| measure | {' | '.join(products)} |")
    print(f"|---|{'---|' * len(products)}")

    def row(label: str, value) -> None:
        print(f"| {label} | {' | '.join(value(results[n]) for n in products)} |")

    for name in FLOORS:
        floor_rps, floor_cpu = results[name]["rps"], results[name]["cpu_ms"]
        row(
            f"flexible-rag c=8, one question: req/s ({name} {floor_rps:.0f} req/s)",
            lambda r, f=floor_rps, n=name: f"{r['rps']:.0f} req/s ({f / r['rps']:.2f}x the {n}'s time)",
        )
        paired = [statistics.median(map(operator.truediv, rounds[name]["rps"], rounds[n]["rps"])) for n in products]
        print(
            f"| the same, median of each round's own ratio to the {name} | {' | '.join(f'{x:.2f}x' for x in paired)} |"
        )
        row(
            f"flexible-rag c=8, one question: CPU per request ({name} {floor_cpu:.2f} ms)",
            lambda r, f=floor_cpu, n=name: f"{r['cpu_ms']:.2f} ms ({r['cpu_ms'] / f:.2f}x the {n}'s)",
        )
    for reference, label in (("model", "openai SDK"), ("model, httpx", "plain httpx, as the product is asked")):
        row(f"model call alone ({label}), p50", lambda r, m=reference: f"{r[m]:.2f} ms")
        for case, name in (("skip", "flexible-rag skip_knowledge_base"), ("agent", "agent with retrieval off")):
            row(f"overhead over it, {name}, p50", lambda r, m=reference, c=case: f"{r[c] - r[m]:+.2f} ms")
    row("llm_generate, flexible-chat, one question, p50", lambda r: f"{r['one']:.2f} ms")
    row("llm_generate, flexible-chat, 52 history messages, p50", lambda r: f"{r['long']:.2f} ms")
    row("52 messages minus one question", lambda r: f"{r['long'] - r['one']:+.2f} ms")
    print()
    for name, run in rounds.items():
        rates, cpus = ", ".join(f"{x:.0f}" for x in run["rps"]), ", ".join(f"{x:.2f}" for x in run["cpu_ms"])
        print(f"{name}: req/s per round {rates}, CPU ms per request {cpus}  ", end="")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a commit to measure beside HEAD")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per measure and round")
    args = parser.parse_args()
    commits = [args.before, "HEAD"] if args.before else ["HEAD"]
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as scratch, contextlib.ExitStack() as stack:
        data = Path(scratch)
        model_port = free_port()
        model_url = f"http://127.0.0.1:{model_port}"
        model = [PYTHON, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "zero_model:app"]
        model += ["--host", "127.0.0.1", "--port", str(model_port), "--log-level", "warning", "--no-access-log"]
        stack.enter_context(process(model, model_port, ROOT))
        bases = {
            commit: stack.enter_context(started(f"s{i}", export_tree(commit, data), model_url, data, {}))
            for i, commit in enumerate(commits)
        }
        index = data / f"index-s{len(commits) - 1}.sqlite"
        floors = {name: stack.enter_context(floor(index, model_url, client)) for name, client in FLOORS.items()}
        load_before = os.getloadavg()[0]
        results = measure(bases, floors, model_url, args)
    cpu = cpu_model()
    print(f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; ", end="")
    print(f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; wrk -t2 -c8, ", end="")
    print(f"{args.duration} s per run, {args.rounds} rounds, medians")
    print()
    report(results)


if __name__ == "__main__":
    main()
