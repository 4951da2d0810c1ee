"""Slow and idle clients cannot hold the controller's HTTP face (SPEC §21).

uvicorn alone keeps a connection that never finishes its request headers open forever,
and accepts connections until the process runs out of file descriptors (then git fails
too). ``GuardedH11`` is uvicorn's h11 protocol with two rules added:

- **Header timeout.** A connection must complete a request's headers within
  ``HEADER_TIMEOUT`` seconds of opening (or of its last response); otherwise it is closed.
  Bodies are read under their own timeout by the handler that reads them.
- **Connection limit.** Past ``MAX_CONNECTIONS`` open connections, the oldest one still
  waiting for its headers is closed to make room (so a probe that sends its request at
  once is still answered during a flood of idle connections); when none is waiting, the
  new one is closed unless fewer than ``HARD_LIMIT`` are open.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0
MAX_CONNECTIONS = 200
HARD_LIMIT = 2 * MAX_CONNECTIONS
"""Connections kept while every one of them is busy with a request (slow bodies)."""
BACKLOG = 64
"""The listen queue, and how many connections asyncio accepts in one go: with uvicorn's
2048, a burst is accepted whole before any eviction runs, and the open files spike past
the limit (git and registry calls then fail with "Too many open files")."""
KEEP_ALIVE = 5
"""Seconds an idle keep-alive connection stays open after a response."""


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a bounded connection count."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened = 0.0
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.opened = self.loop.time()
        self._arm()
        if len(self.connections) > MAX_CONNECTIONS:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request's headers get the same time

    def waiting(self) -> bool:
        """True while no request is being served: nothing is lost by closing it."""
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(HEADER_TIMEOUT, self._expire)

    def _expire(self) -> None:
        if self.waiting() and not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        idle = [
            c
            for c in self.connections
            if isinstance(c, GuardedH11)
            and c is not self
            and c.waiting()
            and not c.transport.is_closing()
        ]
        if idle:
            oldest = min(idle, key=lambda c: c.opened)
            oldest.transport.close()
        elif len(self.connections) > HARD_LIMIT:
            self.transport.close()
