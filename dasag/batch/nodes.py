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

import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from dasag.core.errors import ConfigError
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


def _count(environ: Mapping[str, str], name: str) -> int | None:
    """A launcher's count (``SLURM_NTASKS_PER_NODE`` may read ``4(x2)``: 4 on each of 2 nodes), or ``None``."""
    match = re.match(r"\s*(\d+)", environ.get(name, ""))
    return int(match.group(1)) if match else None


def _launch(environ: Mapping[str, str]) -> tuple[str, int | None, int | None, int | None] | None:
    """(launcher, workers in all, machines, workers on each machine) as srun or torchrun put them into
    ``environ`` (a count it did not set is ``None``); ``None`` without either. SLURM is looked at first, as Lightning does."""
    if "SLURM_NTASKS" in environ and environ.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        return "srun", _count(environ, "SLURM_NTASKS"), _count(environ, "SLURM_NNODES"), _count(environ, "SLURM_NTASKS_PER_NODE")
    if environ.get("TORCHELASTIC_RUN_ID"):
        return "torchrun", _count(environ, "WORLD_SIZE"), _count(environ, "GROUP_WORLD_SIZE"), _count(environ, "LOCAL_WORLD_SIZE")
    return None


def check_launch(num_nodes: int, devices: int, environ: Mapping[str, str]) -> None:
    """A multi-node run's launcher started ``num_nodes`` x ``devices`` workers, ``devices`` on each
    machine; else one sentence in the launcher's own terms and its options that fit, before Lightning
    starts (which would say it about ``devices`` and ``num_nodes``, and leave the launcher to print a
    traceback). ``environ`` is the process's environment, where torchrun and srun put their counts."""
    launch = _launch(environ)
    if launch is None:
        raise ConfigError(f"--num-nodes {num_nodes} needs a launcher that starts the workers on every machine: torchrun "
                          f"(torchrun --nnodes {num_nodes} --nproc-per-node {devices} ... -m dasag ...) or srun under SLURM.")
    name, world, machines, per_machine = launch
    if world == num_nodes * devices and machines in (None, num_nodes) and per_machine in (None, devices):
        return
    def workers(n: int | None) -> str:
        return f"{n} worker{'' if n == 1 else 's'}"

    shape = f" ({machines} machine{'' if machines == 1 else 's'} x {workers(per_machine)})" if machines and per_machine else ""
    if name == "torchrun":
        fits = (f"start torchrun --nnodes {num_nodes} --nproc-per-node {devices} --node-rank R --master-addr HOST --master-port PORT "
                f"on each of the {num_nodes} machines")
    else:
        fits = f"start it with srun --nodes {num_nodes} --ntasks-per-node {devices} (#SBATCH --nodes={num_nodes} --ntasks-per-node={devices})"
    if machines and machines > 1 and per_machine:
        instead = f", or give --num-nodes {machines} --devices {per_machine} to match this launch"
    elif machines == 1:
        instead = f", or leave out {name} and --num-nodes to run on this machine alone (--devices N: N workers)"
    else:
        instead = ""
    raise ConfigError(f"--num-nodes {num_nodes} x --devices {devices} is {workers(num_nodes * devices)}, but {name} started {workers(world)}{shape}; "
                      f"{fits}{instead}.")


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
