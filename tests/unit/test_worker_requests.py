"""The embedded model worker's book of requests: cancels reach the requests still open, and a
cancel that crosses its request's answer on the pipe is dropped instead of kept forever."""

from __future__ import annotations

from shared.llm.embedded_worker import Requests
from shared.llm.worker_protocol import Op


def test_a_cancel_reaches_a_waiting_or_running_request():
    requests = Requests()
    requests.receive({"op": Op.GENERATE, "id": 1})
    requests.receive({"op": Op.CANCEL, "id": 1})
    assert requests.next()["id"] == 1 and requests.cancelled(1)
    requests.answered(1)
    assert not requests.cancelled(1)


def test_a_cancel_after_the_answer_is_forgotten():
    requests = Requests()
    requests.receive({"op": Op.GENERATE, "id": 1})
    requests.next()
    requests.answered(1)
    requests.receive({"op": Op.CANCEL, "id": 1})  # crossed the answer
    assert not requests.cancelled(1)
    assert requests._cancelled == set() and requests._open == set()  # nothing left behind
