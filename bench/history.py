"""History store benchmark: Cosmos DB requests and latency per turn, and SQLite's latency.

    .venv/bin/python bench/history.py [--turns 200] [--concurrent 20]

Each turn is what the orchestrator does: load the session's newest HISTORY_MAX_MESSAGES
(50), then append the exchange with what was loaded. Cosmos DB runs against the local
emulator (tests/cosmos_emulator.js, started and stopped here): its request counts are the
service's, its latency is a loopback server's, not Azure's. Requests are counted with the
SDK's raw_response_hook, one call per HTTP request. Prints Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.servers import free_port, serving  # noqa: E402
from shared.core.types import Message, Source  # noqa: E402
from shared.history.cosmos import CosmosHistoryStore  # noqa: E402
from shared.history.sqlite import SqliteHistoryStore  # noqa: E402

KEEP = 50  # HISTORY_MAX_MESSAGES' default
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="  # public
SOURCE = Source("doc-0", "docs", 0.03, "A chunk of a document. " * 40, {"filename": "doc.md", "chunk_index": 0})


def exchange(i: int) -> list[Message]:
    question = Message("user", f"Question {i}: how long is the warranty on part {i}?")
    answer = Message("assistant", "The warranty lasts ten years [1]. " * 8, (SOURCE,) * 3)
    return [question, answer]


class Requests:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, response) -> None:
        self.seen.append(f"{response.http_request.method} {response.http_response.status_code}")


async def turns(store, count: int, requests: Requests | None = None) -> tuple[list[float], list[list[str]]]:
    latencies, costs = [], []
    for i in range(count):
        if requests:
            requests.seen.clear()
        started = time.perf_counter()
        loaded = await store.load("user", "session", KEEP)
        await store.append("user", "session", exchange(i), loaded)
        latencies.append(time.perf_counter() - started)
        costs.append(list(requests.seen) if requests else [])
    return latencies, costs


async def concurrent(store, count: int, requests: Requests | None = None) -> tuple[float, int]:
    """`count` turns at once on one new session: seconds, and HTTP requests sent."""
    if requests:
        requests.seen.clear()
    started = time.perf_counter()

    async def one(i: int) -> None:
        loaded = await store.load("user", "busy", KEEP)
        await store.append("user", "busy", exchange(i), loaded)

    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    stored = await store.load("user", "busy", None)
    assert len(stored.messages) == 2 * count, "a concurrent turn was lost"
    return elapsed, len(requests.seen) if requests else 0


def ms(samples: list[float], p: float) -> str:
    return f"{np.percentile(samples, p) * 1000:.1f} ms"


async def bench_cosmos(endpoint: str, count: int, parallel: int) -> None:
    from azure.cosmos import PartitionKey
    from azure.cosmos.aio import CosmosClient

    requests = Requests()
    async with CosmosClient(endpoint, credential=EMULATOR_KEY, raw_response_hook=requests) as client:
        database = await client.create_database_if_not_exists("bench")
        container = await database.create_container(
            f"history-{uuid.uuid4().hex[:8]}", partition_key=PartitionKey("/userId"), default_ttl=-1
        )
        store = CosmosHistoryStore(container, keep=KEEP)
        latencies, costs = await turns(store, count, requests)
        elapsed, sent = await concurrent(store, parallel, requests)

    shapes = Counter(" + ".join(cost) for cost in costs)
    per_turn = [len(cost) for cost in costs]
    print(f"### Cosmos DB (emulator), {count} sequential turns on one session, then {parallel} at once\n")
    print("| requests in a turn | turns |\n|---|---|")
    for shape, turns_with_it in shapes.most_common():
        print(f"| {shape} | {turns_with_it} |")
    print(f"\nMean requests per turn: {np.mean(per_turn):.3f} (max {max(per_turn)}).")
    print(f"Turn latency (load + append): p50 {ms(latencies, 50)}, p95 {ms(latencies, 95)}.")
    print(
        f"{parallel} concurrent turns on one session: all {2 * parallel} messages kept, "
        f"{sent} requests ({sent / parallel:.1f} per turn with ETag retries), {elapsed * 1000:.0f} ms.\n"
    )


async def bench_sqlite(count: int, parallel: int) -> None:
    store = SqliteHistoryStore(Path(tempfile.mkdtemp(prefix="bench-history-")) / "history.sqlite")
    latencies, _ = await turns(store, count)
    elapsed, _ = await concurrent(store, parallel)
    print(f"### SQLite, {count} sequential turns on one session, then {parallel} at once\n")
    print(f"Turn latency (load + append): p50 {ms(latencies, 50)}, p95 {ms(latencies, 95)}.")
    print(f"{parallel} concurrent turns on one session: all {2 * parallel} messages kept, {elapsed * 1000:.0f} ms.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=20)
    args = parser.parse_args()
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}\n")
    port = free_port()
    command = ["node", str(ROOT / "tests" / "cosmos_emulator.js"), "--port", str(port)]
    with serving(command, port, "Cosmos DB emulator", timeout=30):
        asyncio.run(bench_cosmos(f"https://127.0.0.1:{port}", args.turns, args.concurrent))
    asyncio.run(bench_sqlite(args.turns, args.concurrent))


if __name__ == "__main__":
    main()
