"""Knowing, within a bounded time, that a worker on another machine is gone.

A multi-node run's workers meet at collective barriers (gloo on CPU, NCCL on GPUs). A worker
that dies makes the others' next barrier fail with the transport's traceback; one that stops
answering without dying (hung, stopped, cut off) leaves them waiting for the process group's
timeout, half an hour by default. So the workers meet at barriers only before any row is made
(with the run's ``node_timeout``), and after their rows they report through the shared output
folder instead:

* each worker's :class:`Heartbeat` rewrites ``parts/alive.rank<R>`` with a rising count every
  couple of seconds while it works;
* a worker that has written all its rows leaves ``parts/done.rank<R>`` and returns;
* rank 0, once its own rows are made, :func:`wait_for_workers`: every worker done, or the first
  one whose count has not changed for ``timeout`` seconds (by rank 0's own clock: the machines'
  clocks need not agree) is a :class:`LostWorker` sentence naming its rank.

Nothing is lost either way: every finished row is already in its worker's rows file, and the
same command run again (on every machine) makes only what is missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from dasag.core.files import write_bytes_atomic
from dasag.run.build import RunFailed

#: Seconds between two heartbeats.
BEAT_SECONDS = 2.0


class LostWorker(RunFailed):
    """A worker of a multi-node run stopped answering; the message is the one sentence shown."""


def lost_worker(rank: int | None, world: int, seconds: float, out: Path, when: str = "") -> LostWorker:
    """The sentence for a worker that stopped answering (``rank`` ``None``: not known which)."""
    who = f"worker {rank} of {world}" if rank is not None else f"a worker of {world}"
    return LostWorker(f"{who} stopped answering{when} (nothing heard for {seconds:g} s: killed, hung or cut off); every finished row is "
                      f"kept in {str(out)!r}: run the same command again (on every machine) to make the rest.")


def alive_path(folder: Path, rank: int) -> Path:
    return folder / f"alive.rank{rank}"


def done_path(folder: Path, rank: int) -> Path:
    return folder / f"done.rank{rank}"


def clear(folder: Path) -> None:
    """Remove an earlier run's markers; rank 0 does this before the workers first meet."""
    for marker in [*folder.glob("alive.rank*"), *folder.glob("done.rank*")]:
        marker.unlink(missing_ok=True)


def mark_done(folder: Path, rank: int) -> None:
    write_bytes_atomic(done_path(folder, rank), b"done")


class Heartbeat:
    """A daemon thread that rewrites ``alive.rank<R>`` with a rising count (``with Heartbeat(...):``)."""

    def __init__(self, folder: Path, rank: int, every: float = BEAT_SECONDS) -> None:
        self.path = alive_path(folder, rank)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-rank{rank}", daemon=True)

    def _beat(self) -> None:
        count = 0
        while True:
            count += 1
            try:
                write_bytes_atomic(self.path, str(count).encode())
            except OSError:  # a full or briefly unreachable shared folder: the next beat tries again
                pass
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def wait_for_workers(folder: Path, world: int, timeout: float, out: Path, clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep, poll: float = 0.5) -> None:
    """Return once every rank has left its done marker; raise :class:`LostWorker` naming the first
    rank whose heartbeat has not changed for ``timeout`` seconds of this machine's clock (a rank
    never heard from counts from the moment the wait began)."""
    seen: dict[int, tuple[str | None, float]] = {}  # rank -> (its last beat, when it changed)
    while True:
        waiting = [r for r in range(world) if not done_path(folder, r).is_file()]
        if not waiting:
            return
        now = clock()
        for rank in waiting:
            beat = _read(alive_path(folder, rank))
            if rank not in seen or beat != seen[rank][0]:
                seen[rank] = (beat, now)
            elif now - seen[rank][1] > timeout:
                raise lost_worker(rank, world, timeout, out, " while the others finished their rows")
        sleep(poll)
