"""The embedded model's worker process: llama.cpp, apart from the server that supervises it.

    python -m shared.llm.embedded_worker MODEL_PATH CONTEXT_WINDOW THREADS

A native crash or a hang here costs one answer, never the server (see worker_supervisor).
It speaks shared.llm.worker_protocol: JSON lines, requests on stdin, events on stdout, logs on
stderr.

Requests run one at a time, in arrival order (the supervisor sends one at a time, choosing
whose turn it is; a request is one completion). The reader thread takes cancels while a
generation runs, and the generation stops at its next token.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
from typing import Any

from shared.llm.worker_protocol import Event, Op

log = logging.getLogger("embedded_worker")


class _Cancelled(Exception):
    pass


class Requests:
    """The requests received and not yet answered, and which of them are cancelled. A cancel for
    a request already answered (it crossed the answer on the pipe) is dropped, not kept forever."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._open: set[int] = set()
        self._cancelled: set[int] = set()

    def receive(self, request: dict[str, Any]) -> None:
        with self._lock:
            if request["op"] == Op.CANCEL:
                if request["id"] in self._open:
                    self._cancelled.add(request["id"])
                return
            self._open.add(request["id"])
        self._queue.put(request)

    def next(self) -> dict[str, Any]:
        return self._queue.get()

    def cancelled(self, request_id: int) -> bool:
        return request_id in self._cancelled

    def answered(self, request_id: int) -> None:
        with self._lock:
            self._open.discard(request_id)
            self._cancelled.discard(request_id)


class Worker:
    def __init__(self, model_path: str, context_window: int, threads: int) -> None:
        from llama_cpp import Llama

        # The protocol gets stdout to itself: anything native code prints goes to stderr.
        self._protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)

        started = time.perf_counter()
        self._llm = Llama(model_path=model_path, n_ctx=context_window, n_threads=threads, verbose=False)
        # One token first: the first generation pays for buffers and threads, not a user's answer.
        self._llm.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=1)
        self.load_seconds = time.perf_counter() - started
        self._out = threading.Lock()
        self._requests = Requests()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False) + "\n"
        with self._out:
            try:
                self._protocol.write(line)
                self._protocol.flush()
            except BrokenPipeError:
                os._exit(0)  # the server has gone

    def read_requests(self) -> None:
        """Generations are queued, cancels take effect at once; when stdin closes, the server is gone."""
        for line in sys.stdin:
            self._requests.receive(json.loads(line))
        os._exit(0)  # nobody is left to answer: no need to wait for llama.cpp's teardown

    def serve(self) -> None:
        while True:
            request = self._requests.next()
            try:
                self._answer(request)
            finally:
                self._requests.answered(request["id"])

    def _answer(self, request: dict[str, Any]) -> None:
        if request["op"] == Op.PING:
            self.send({"id": request["id"], "event": Event.PONG})
            return
        if self._requests.cancelled(request["id"]):  # cancelled while it waited: not even the prompt is read
            self.send({"id": request["id"], "event": Event.CANCELLED, "completion_tokens": 0})
            return
        self.send({"id": request["id"], "event": Event.STARTED})
        try:
            self.send({"id": request["id"], "event": Event.DONE, **self._generate(request)})
        except _Cancelled as cancelled:
            self.send({"id": request["id"], "event": Event.CANCELLED, "completion_tokens": cancelled.args[0]})
        except Exception as exc:  # noqa: BLE001 - reported to the server, which answers with the fallback
            log.exception("generation failed")
            self.send({"id": request["id"], "event": Event.ERROR, "message": type(exc).__name__})

    def _generate(self, request: dict[str, Any]) -> dict[str, Any]:
        """One completion, streamed from llama.cpp so that a cancel stops it between two tokens."""
        pieces: list[str] = []
        finish = None
        # llama_cpp types the result as the union of its streamed and whole shapes; this is the stream.
        chunks: Any = self._llm.create_chat_completion(messages=request["messages"], stream=True, **request["params"])
        for chunk in chunks:
            if self._requests.cancelled(request["id"]):
                raise _Cancelled(len(pieces))
            choice = chunk["choices"][0]
            text = choice["delta"].get("content")
            if text:
                pieces.append(text)
                if request.get("stream"):
                    self.send({"id": request["id"], "event": Event.DELTA, "text": text})
            finish = choice.get("finish_reason") or finish
        return {
            "text": "".join(pieces),
            "finish_reason": finish,
            # Tokens evaluated for this call: the prompt, plus one per generated piece.
            "prompt_tokens": max(self._llm.n_tokens - len(pieces), 0),
            "completion_tokens": len(pieces),
        }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model_path, context_window, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    worker = Worker(model_path, context_window, threads)
    worker.send({"event": Event.READY, "load_seconds": round(worker.load_seconds, 3)})
    threading.Thread(target=worker.read_requests, name="requests", daemon=True).start()
    worker.serve()


if __name__ == "__main__":
    main()
