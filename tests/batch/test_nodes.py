"""A multi-node run learns, within its node timeout, that a worker is gone (:mod:`dasag.batch.nodes`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dasag.batch import nodes
from dasag.core.errors import ConfigError


class FakeTime:
    """A clock that moves only when the waiter sleeps, and a hook to act at a given moment."""

    def __init__(self, at: dict[float, object] | None = None) -> None:
        self.now = 0.0
        self.at = dict(at or {})

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for moment in sorted(self.at):
            if moment <= self.now:
                self.at.pop(moment)()


def test_the_wait_ends_when_every_worker_is_done(tmp_path: Path) -> None:
    nodes.mark_done(tmp_path, 0)
    t = FakeTime({3.0: lambda: nodes.mark_done(tmp_path, 1)})
    nodes.wait_for_workers(tmp_path, 2, timeout=10, out=tmp_path, clock=t.clock, sleep=t.sleep)
    assert 3.0 <= t.now < 10


def test_a_worker_that_keeps_beating_is_waited_for_past_the_timeout(tmp_path: Path) -> None:
    nodes.mark_done(tmp_path, 0)
    beats = {float(s): (lambda s=s: nodes.alive_path(tmp_path, 1).write_text(str(s))) for s in range(2, 40, 2)}
    t = FakeTime({**beats, 41.0: lambda: nodes.mark_done(tmp_path, 1)})
    nodes.wait_for_workers(tmp_path, 2, timeout=10, out=tmp_path, clock=t.clock, sleep=t.sleep)
    assert t.now >= 41


@pytest.mark.parametrize("beats_until", [None, 6.0])
def test_a_silent_worker_is_one_sentence_naming_its_rank_within_the_timeout(tmp_path: Path, beats_until) -> None:
    """Never heard from, or heard from and then silent: either way the wait ends timeout seconds later."""
    nodes.mark_done(tmp_path, 0)
    nodes.mark_done(tmp_path, 2)
    beats = {} if beats_until is None else {float(s): (lambda s=s: nodes.alive_path(tmp_path, 1).write_text(str(s)))
                                            for s in range(2, int(beats_until) + 1, 2)}
    t = FakeTime(beats)
    with pytest.raises(nodes.LostWorker) as e:
        nodes.wait_for_workers(tmp_path, 3, timeout=10, out=tmp_path / "out", clock=t.clock, sleep=t.sleep)
    last_change = 0.0 if beats_until is None else beats_until
    assert last_change + 10 < t.now <= last_change + 11
    assert str(e.value) == (f"worker 1 of 3 stopped answering while the others finished their rows (nothing heard for 10 s: killed, hung or "
                            f"cut off); every finished row is kept in {str(tmp_path / 'out')!r}: run the same command again (on every "
                            f"machine) to make the rest.")


def test_the_heartbeat_counts_up_while_it_runs_and_stops_after(tmp_path: Path) -> None:
    with nodes.Heartbeat(tmp_path, 3, every=0.01):
        first = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = nodes.alive_path(tmp_path, 3).read_text() if nodes.alive_path(tmp_path, 3).exists() else None
            first = first or text
            if text and first and int(text) > int(first):
                break
            time.sleep(0.01)
        assert int(text) > int(first)
    stopped = nodes.alive_path(tmp_path, 3).read_text()
    time.sleep(0.05)
    assert nodes.alive_path(tmp_path, 3).read_text() == stopped
    nodes.mark_done(tmp_path, 3)
    nodes.clear(tmp_path)
    assert list(tmp_path.iterdir()) == []


TORCHRUN_ONE_MACHINE = {"TORCHELASTIC_RUN_ID": "none", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1", "GROUP_WORLD_SIZE": "1"}


@pytest.mark.parametrize(("environ", "num_nodes", "devices"), [
    ({"TORCHELASTIC_RUN_ID": "r", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4", "GROUP_WORLD_SIZE": "2"}, 2, 4),
    ({"TORCHELASTIC_RUN_ID": "r", "WORLD_SIZE": "2"}, 2, 1),  # an older torchrun without the per-machine counts
    ({"SLURM_NTASKS": "8", "SLURM_NNODES": "2", "SLURM_NTASKS_PER_NODE": "4(x2)", "SLURM_JOB_NAME": "batch"}, 2, 4),
])
def test_a_launch_of_num_nodes_times_devices_workers_passes(environ, num_nodes, devices) -> None:
    nodes.check_launch(num_nodes, devices, environ)


@pytest.mark.parametrize(("environ", "num_nodes", "devices", "sentence"), [
    (TORCHRUN_ONE_MACHINE, 2, 1,
     "--num-nodes 2 x --devices 1 is 2 workers, but torchrun started 1 worker (1 machine x 1 worker); start torchrun --nnodes 2 --nproc-per-node 1 "
     "--node-rank R --master-addr HOST --master-port PORT on each of the 2 machines, or leave out torchrun and --num-nodes to run on this machine "
     "alone (--devices N: N workers)."),
    ({"TORCHELASTIC_RUN_ID": "r", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "GROUP_WORLD_SIZE": "1"}, 2, 1,
     "--num-nodes 2 x --devices 1 is 2 workers, but torchrun started 2 workers (1 machine x 2 workers); start torchrun --nnodes 2 --nproc-per-node 1"),
    ({"TORCHELASTIC_RUN_ID": "r", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4", "GROUP_WORLD_SIZE": "2"}, 2, 1,
     "but torchrun started 8 workers (2 machines x 4 workers); start torchrun --nnodes 2 --nproc-per-node 1 --node-rank R --master-addr HOST "
     "--master-port PORT on each of the 2 machines, or give --num-nodes 2 --devices 4 to match this launch."),
    ({"SLURM_NTASKS": "1", "SLURM_NNODES": "1", "SLURM_NTASKS_PER_NODE": "1"}, 2, 1,
     "--num-nodes 2 x --devices 1 is 2 workers, but srun started 1 worker (1 machine x 1 worker); start it with srun --nodes 2 --ntasks-per-node 1 "
     "(#SBATCH --nodes=2 --ntasks-per-node=1), or leave out srun and --num-nodes to run on this machine alone (--devices N: N workers)."),
    ({}, 2, 1, "--num-nodes 2 needs a launcher that starts the workers on every machine: torchrun (torchrun --nnodes 2 --nproc-per-node 1 ... "
               "-m dasag ...) or srun under SLURM."),
    ({"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "interactive"}, 2, 1, "--num-nodes 2 needs a launcher"),  # Lightning ignores an interactive allocation
])
def test_a_launch_that_does_not_match_is_one_sentence_in_the_launchers_terms(environ, num_nodes, devices, sentence) -> None:
    """Lightning said it about ``devices`` and ``num_nodes``, then torchrun printed its traceback."""
    with pytest.raises(ConfigError) as caught:
        nodes.check_launch(num_nodes, devices, environ)
    assert sentence in str(caught.value), str(caught.value)
