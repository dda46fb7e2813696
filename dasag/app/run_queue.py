"""The server's line of runs: at most ``at_once`` runs and clips at the same time, the others waiting
their turn in the order they asked, each knowing its place. Nothing here imports Streamlit.

One page per visitor and one process for all of them: without a line, every Generate of every tab
starts a Trainer at once and a few visitors exhaust the machine. A run joins the line when it is
started (so its place is fair), waits in its own thread, and leaves when it ends, is stopped, or its
tab closes while it waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: How often a waiting run asks whether it was given up (Stop pressed, its tab closed), seconds.
POLL_SECONDS = 0.5


class Ticket:
    """One run's place in a :class:`RunQueue` (compared by identity)."""

    __slots__ = ()


class RunQueue:
    """At most ``at_once`` holders at a time; the others wait first come, first served."""

    def __init__(self, at_once: int = 1) -> None:
        if at_once < 1:
            raise ValueError(f"RunQueue at_once must be at least 1; got {at_once}.")
        self.at_once = at_once
        self._changed = threading.Condition()
        self._waiting: list[Ticket] = []
        self._running: set[Ticket] = set()

    def join(self) -> Ticket:
        """A new ticket at the end of the line."""
        ticket = Ticket()
        with self._changed:
            self._waiting.append(ticket)
        return ticket

    def wait(self, ticket: Ticket, given_up: Callable[[], bool] = lambda: False, poll: float = POLL_SECONDS) -> bool:
        """Block until ``ticket``'s turn (``True``: it now runs) or until ``given_up()`` (``False``: it left the line)."""
        with self._changed:
            while True:
                if ticket in self._running:
                    return True
                if ticket not in self._waiting:
                    return False  # it left (or never joined)
                if len(self._running) < self.at_once and self._waiting[0] is ticket:
                    self._waiting.pop(0)
                    self._running.add(ticket)
                    self._changed.notify_all()
                    return True
                if given_up():
                    self._remove_ticket(ticket)
                    return False
                self._changed.wait(poll)

    def place(self, ticket: Ticket) -> int | None:
        """``ticket``'s place in the line (1: next), ``None`` once it runs or has left."""
        with self._changed:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else None

    def leave(self, ticket: Ticket) -> None:
        """The run ended (or gave up): the next in line may start."""
        with self._changed:
            self._remove_ticket(ticket)

    def _remove_ticket(self, ticket: Ticket) -> None:
        self._running.discard(ticket)
        if ticket in self._waiting:
            self._waiting.remove(ticket)
        self._changed.notify_all()

    @property
    def running(self) -> int:
        with self._changed:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._waiting)


_SERVER_QUEUE: RunQueue | None = None
_MADE = threading.Lock()


def server_queue(at_once: int) -> RunQueue:
    """The process's one line, made on the first call (a Streamlit cache could be cleared from the
    page's menu, which would open a second line beside the first)."""
    global _SERVER_QUEUE
    with _MADE:
        if _SERVER_QUEUE is None:
            _SERVER_QUEUE = RunQueue(at_once)
        return _SERVER_QUEUE
