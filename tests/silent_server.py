"""A TCP server on 127.0.0.1 that accepts connections and never answers: a hanging backend.

Unlike a closed port (refused at once), a client reaching it waits until its own time
limit, as it would for a store or issuer that has stopped responding.
"""

from __future__ import annotations

import socket
import threading


class SilentServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            self._connections.append(connection)  # held open, never read or answered
            self.accepted += 1

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux; close() alone does not
        self._listener.close()
        for connection in self._connections:
            connection.close()
        self._thread.join(timeout=10)
