"""Runs the embedded model's worker process (shared.llm.embedded_worker) and keeps it alive.

Why a process: llama.cpp is native code. A crash in it (an illegal instruction, a segfault)
would take the whole server down if it ran in process, and a generation running in a thread
cannot be stopped at a deadline. Here a crash fails the requests in flight, which answer
with the fallback, and the next request gets a fresh worker; a cancelled generation stops at
its next token, or the worker is killed when it does not stop within `stop_grace_seconds`.

Requests wait here, not in the worker: the supervisor gives the worker one at a time, and
the next is the oldest of the waiting caller served least recently (a caller new to the queue
first), so that one caller's queue never starves another's cheap request. A request for n
completions is n requests (shared.llm.embedded), so others get their turn between them.

The supervisor is loop-agnostic: a reader thread per process hands each event to the event
loop of the request that asked for it.

A request's states (its events are shared.llm.worker_protocol's; "closed": whoever awaited it
closed run()'s iterator, a client gone or a deadline passed):

    waiting ──dispatched──▶ sent ──STARTED──▶ generating ──terminal event──▶ finished
       │                      │                   │
       │ closed               │ closed            │ closed
       ▼                      └────▶ cancelling ◀─┘   Op.CANCEL sent; from STARTED on, a stop timer runs
     gone                                │
                                         ├── terminal event, or lost ──▶ finished (its stop is timed)
                                         └── the stop timer fires ──▶ the worker is killed ──▶ lost

    lost: the worker died with the request on it (sent, generating or cancelling), could not be
    written to, or (waiting) no new worker could be started; whoever awaits it gets WorkerFailed.
    When a worker dies, the requests waiting are not lost: they go to the next worker.

The worker's states: none ──ensure_started──▶ running ──exits──▶ dead. Its reader thread sees
the exit, loses the request that was on it, and, when it was the current worker, starts a new
one in a restart thread (a crash, unless the supervisor killed it on purpose).

Threads: the requests' event loops (run, cancel), each worker's reader thread (events, exit),
the stop timers (kill) and the restart thread. All the bookkeeping (the worker process, the
requests, the queues by caller, the current request, the cancels, the kills, the stats) is
under one lock, `_lock`, held for bookkeeping only: never while writing to the worker, waiting
for it, or handing an event to a loop. Two other locks serialize work, not state: `_starting`
(one worker start at a time, held while the model loads; taken before `_lock`, never inside
it) and `_writing` (one line at a time on the worker's stdin).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.config import PROJECT_ROOT
from shared.llm.worker_protocol import TERMINAL_EVENTS, Event, Op

log = logging.getLogger(__name__)

_REMEMBERED_CALLERS = 4096  # when each was last served; the least recent are forgotten first


class WorkerFailed(Exception):
    """The worker could not start, died, or reported a failed generation."""


def _lost() -> WorkerFailed:
    return WorkerFailed("the embedded model's worker stopped during the request")


@dataclass
class _Pending:
    """One request, from run() until its last event. Changed only under the supervisor's lock."""

    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue  # its events, then (lost) a WorkerFailed
    message: dict[str, Any]
    process: subprocess.Popen | None = None  # the worker it was given to; None while it waits its turn
    started: bool = False  # the worker has begun it
    stop_timer: threading.Timer | None = None


@dataclass
class WorkerStats:
    """What the supervisor has seen, for tests and benchmarks."""

    starts: int = 0
    crashes: int = 0
    kills: int = 0
    stop_seconds: list[float] = field(default_factory=list)  # cancel sent → generation stopped


class WorkerSupervisor:
    def __init__(
        self,
        model_path: Path,
        context_window: int,
        threads: int,
        *,
        start_timeout_seconds: float = 120,
        stop_grace_seconds: float = 0.5,
    ) -> None:
        worker = ["-m", "shared.llm.embedded_worker", str(model_path), str(context_window), str(threads)]
        self._command = [sys.executable, *worker]
        self._start_timeout = start_timeout_seconds
        self._stop_grace = stop_grace_seconds
        self._starting = threading.Lock()
        self._writing = threading.Lock()
        self._lock = threading.Lock()
        # Under _lock, all of them:
        self._process: subprocess.Popen | None = None
        self._pending: dict[int, _Pending] = {}
        # Waiting requests by caller; the one with the worker; when each caller was last served.
        self._waiting: dict[str, deque[int]] = {}
        self._current: int | None = None
        self._last_served: dict[str, int] = {}  # caller -> dispatch number, least recent first
        self._dispatches = itertools.count()
        self._cancelled_at: dict[int, float] = {}
        self._killed: set[int] = set()  # pids this supervisor killed on purpose
        self._ids = itertools.count(1)
        self.stats = WorkerStats()

    @property
    def pid(self) -> int | None:
        with self._lock:
            process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def in_flight(self) -> bool:
        """Whether a request is with the worker (queued, generating or being stopped)."""
        with self._lock:
            return bool(self._pending)

    @property
    def generating(self) -> bool:
        """Whether the worker has begun one of the requests in flight."""
        with self._lock:
            return any(pending.started for pending in self._pending.values())

    @property
    def waiting(self) -> dict[str, int]:
        """Requests waiting for the worker, by caller."""
        with self._lock:
            return {caller: len(queue) for caller, queue in self._waiting.items()}

    def ensure_started(self) -> subprocess.Popen:
        """The running worker, started (and waited for) if there is none. Blocking: call it in a thread."""
        with self._starting:
            with self._lock:
                process = self._process
            if process is None or process.poll() is not None:
                process = self._start()
                with self._lock:
                    self._process = process
                    self.stats.starts += 1
            return process

    def _start(self) -> subprocess.Popen:
        log.info("embedded model: starting its worker process (%s)", Path(self._command[3]).name)
        started = time.perf_counter()
        process = subprocess.Popen(
            self._command,
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            # Its own session: a Ctrl+C meant for the server does not reach it. It ends when the
            # server closes its stdin, or dies.
            start_new_session=True,
        )
        ready = threading.Event()
        announcement: dict[str, Any] = {}
        threading.Thread(
            target=self._read_events, args=(process, ready, announcement), name="embedded-model-events", daemon=True
        ).start()
        if not ready.wait(self._start_timeout) or not announcement:
            process.kill()
            raise WorkerFailed(f"the embedded model's worker did not start (exit code {process.wait()})")
        log.info(
            "embedded model: worker %d ready in %.2f s (model loaded in %.2f s)",
            process.pid,
            time.perf_counter() - started,
            announcement["load_seconds"],
        )
        return process

    async def run(self, request: dict[str, Any], caller: str = "") -> AsyncGenerator[dict[str, Any]]:
        """Queue one request (Op.GENERATE or Op.PING) for `caller` and yield its events, the terminal one last.

        Closing the iterator before the end cancels the request: a waiting one leaves the queue,
        the worker stops the one it is on.
        """
        await asyncio.to_thread(self.ensure_started)
        with self._lock:
            request_id = next(self._ids)
            pending = _Pending(asyncio.get_running_loop(), asyncio.Queue(), {**request, "id": request_id})
            self._pending[request_id] = pending
            self._waiting.setdefault(caller, deque()).append(request_id)
        self._dispatch()
        finished = False
        try:
            while True:
                event = await pending.events.get()
                finished = isinstance(event, WorkerFailed) or event["event"] in TERMINAL_EVENTS
                if isinstance(event, WorkerFailed):
                    raise event
                if event["event"] == Event.ERROR:
                    raise WorkerFailed(f"the embedded model failed: {event.get('message')}")
                yield event
                if finished:
                    return
        finally:
            if finished:
                with self._lock:
                    self._pending.pop(request_id, None)
            else:
                self._cancel(request_id, pending)

    def _dispatch(self) -> None:
        """Give the worker the next request when it has none: the oldest of the waiting caller
        served least recently (never served: first; ties in order of arrival)."""
        with self._lock:
            process = self._process
            if self._current is not None or process is None or process.poll() is not None:
                return
            pending = None
            while self._waiting and pending is None:
                caller = min(self._waiting, key=lambda c: self._last_served.get(c, -1))
                queue = self._waiting[caller]
                request_id = queue.popleft()
                if not queue:
                    del self._waiting[caller]
                pending = self._pending.get(request_id)
            if pending is None:
                return
            self._last_served.pop(caller, None)
            self._last_served[caller] = next(self._dispatches)
            if len(self._last_served) > _REMEMBERED_CALLERS:
                del self._last_served[next(iter(self._last_served))]
            self._current, pending.process = request_id, process
        try:
            self._send(process, pending.message)
        except WorkerFailed:
            self._finished(request_id, _lost())

    def _finished(self, request_id: int, event: dict[str, Any] | WorkerFailed) -> None:
        """A request's last event: delivered, and the worker goes to the next one."""
        with self._lock:
            if self._current == request_id:
                self._current = None
        self._deliver(request_id, event)
        self._dispatch()

    def _send(self, process: subprocess.Popen, message: dict[str, Any]) -> None:
        try:
            with self._writing:
                process.stdin.write(json.dumps(message, ensure_ascii=False) + "\n")
                process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerFailed("the embedded model's worker is not running") from None

    def _cancel(self, request_id: int, pending: _Pending) -> None:
        """Stop a request nobody waits for: out of the queue if it waits, else at the worker's next
        token, or by killing a worker that does not stop."""
        with self._lock:
            process = pending.process
            if process is None:  # still waiting: it leaves the queue
                self._pending.pop(request_id, None)
                for queue in self._waiting.values():
                    if request_id in queue:
                        queue.remove(request_id)
                self._waiting = {caller: queue for caller, queue in self._waiting.items() if queue}
                return
            self._cancelled_at[request_id] = time.monotonic()
        try:
            self._send(process, {"op": Op.CANCEL, "id": request_id})
        except WorkerFailed:  # the worker is gone, and the generation with it
            with self._lock:
                self._cancelled_at.pop(request_id, None)
            self._finished(request_id, _lost())
            return
        with self._lock:
            if pending.started:  # one the worker has not begun is skipped by it, or timed once it starts
                self._arm_stop_timer(request_id, pending)

    def _arm_stop_timer(self, request_id: int, pending: _Pending) -> None:
        """With the lock held: kill the worker unless this cancelled request ends within the grace."""
        if pending.stop_timer is None and request_id in self._pending:
            pending.stop_timer = threading.Timer(self._stop_grace, self._kill, args=(pending.process, request_id))
            pending.stop_timer.daemon = True
            pending.stop_timer.start()

    def _kill(self, process: subprocess.Popen, request_id: int) -> None:
        with self._lock:
            if request_id not in self._pending or process.poll() is not None:
                return
            self.stats.kills += 1
            self._killed.add(process.pid)
        log.warning(
            "embedded model: worker %d did not stop within %.1f s of a cancel; killing it",
            process.pid,
            self._stop_grace,
        )
        process.kill()

    def _read_events(self, process: subprocess.Popen, ready: threading.Event, announcement: dict) -> None:
        """The worker's stdout, until it ends: each event to the request that asked for it."""
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == Event.READY:
                announcement.update(event)
                ready.set()
            elif event["event"] in TERMINAL_EVENTS:
                self._finished(event["id"], event)
            else:
                self._deliver(event["id"], event)
        ready.set()  # a worker that dies before it is ready must not keep its starter waiting
        code = process.wait()
        with self._lock:
            replace = bool(announcement) and process is self._process
            crashed = replace and process.pid not in self._killed
            if crashed:
                self.stats.crashes += 1
            # Only the request the worker was on is lost; those waiting go to the next worker.
            lost = [request_id for request_id, pending in self._pending.items() if pending.process is process]
        for request_id in lost:
            self._finished(request_id, _lost())
        if crashed:
            log.error(
                "embedded model: worker %d died (%s) with %d request(s) on it; starting a new one",
                process.pid,
                f"signal {-code}" if code < 0 else f"exit code {code}",
                len(lost),
            )
        if replace:
            threading.Thread(target=self._restart, name="embedded-model-restart", daemon=True).start()

    def _restart(self) -> None:
        try:
            self.ensure_started()
        except WorkerFailed as exc:
            log.error("%s; the next request tries again", exc)
            with self._lock:
                waiting, self._waiting = [rid for queue in self._waiting.values() for rid in queue], {}
            for request_id in waiting:
                self._deliver(request_id, _lost())
            return
        self._dispatch()

    def _deliver(self, request_id: int, event: dict[str, Any] | WorkerFailed) -> None:
        """An event (or, lost, a WorkerFailed) to the loop of the request it is for; for a
        cancelled request, which nobody reads any more, its end is timed and it is forgotten."""
        with self._lock:
            pending = self._pending.get(request_id)
            if pending is None:
                return
            kind = None if isinstance(event, WorkerFailed) else event["event"]
            if kind == Event.STARTED:
                pending.started = True
                if request_id in self._cancelled_at:  # cancelled on its way in: time its stop from now
                    self._arm_stop_timer(request_id, pending)
                return
            if request_id in self._cancelled_at:
                if kind is None or kind in TERMINAL_EVENTS:
                    self.stats.stop_seconds.append(time.monotonic() - self._cancelled_at.pop(request_id))
                    if pending.stop_timer is not None:
                        pending.stop_timer.cancel()
                    del self._pending[request_id]
                return
        try:
            pending.loop.call_soon_threadsafe(pending.events.put_nowait, event)
        except RuntimeError:  # that request's event loop has closed
            with self._lock:
                self._pending.pop(request_id, None)

    def close(self) -> None:
        """Stop the worker; the next request starts a new one."""
        with self._starting, self._lock:
            process, self._process = self._process, None
            running = process is not None and process.poll() is None
            if running:
                self._killed.add(process.pid)
        if running:
            process.stdin.close()  # the worker exits when its stdin closes
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
