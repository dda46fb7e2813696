"""Several machines share one run: two torchrun nodes on localhost make every row once, the bytes of one node."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dasag.batch.rows_file import run_batch
from feature_helpers import REPO, free_port


def start_nodes(rows_file, config, out, cwd, *extra: str) -> list[subprocess.Popen]:
    """Two "machines": two torchrun agents with node ranks 0 and 1, gloo over localhost, one worker each."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(rank),
             "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "dasag", "batch", str(rows_file), "--config", str(config),
             "--out", str(out), "--num-nodes", "2", "--threads", "1", "--accelerator", "cpu", *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd, start_new_session=True,
        )
        for rank in (0, 1)
    ]


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (torchrun starts its workers in sessions of their own, so
    a process group does not reach them: a lost machine is the agent and its workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def signal_machine(node: subprocess.Popen, sig: int) -> None:
    for pid in process_tree(node.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@pytest.mark.slow
def test_two_torchrun_nodes_on_localhost_make_the_images_of_one_node(batch_files, tmp_path) -> None:
    """Two "machines" share one output folder: every row exactly once, the same bytes as a one-node run."""
    rows_file, config = batch_files
    single = run_batch(rows_file, config, tmp_path / "one", threads=1)
    out = tmp_path / "two"
    nodes = start_nodes(rows_file, config, out, tmp_path)
    try:
        logs = [node.communicate(timeout=600)[0] for node in nodes]
    finally:  # a node that failed leaves the other waiting at a barrier: never leave it running
        for node in nodes:
            signal_machine(node, signal.SIGKILL)  # the agent and the worker it started
    assert [node.returncode for node in nodes] == [0, 0], logs
    table = pd.read_csv(out / "scores.csv")
    assert list(table["sample"]) == [0, 1, 2]
    assert list(table["file_hash"]) == list(single["file_hash"])
    assert set(table["file_hash"]) == {p.stem for p in (out / "images").iterdir()}
    assert "[1] row" in logs[1] and "[0] row" in logs[0]  # both nodes made images
    assert (out / "contact_sheet.png").is_file() and not list((out / "parts").glob("*.csv"))


@pytest.mark.slow
@pytest.mark.parametrize("signal_", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "stopped"])
def test_a_lost_node_ends_the_run_in_one_sentence_within_the_timeout_and_the_rerun_finishes(batch_files, tmp_path, signal_) -> None:
    """Node 1 (its agent and its worker) is killed, or stopped as a hung or cut-off machine would be,
    after its first row: node 0 ends within its own rows plus the node timeout (10 s here), with one
    sentence naming worker 1 and no transport traceback; a one-machine rerun makes every row once."""
    _, config = batch_files
    rows_file = tmp_path / "six.csv"
    # 40 steps a row (seconds each): node 1 is lost with rows still to make, whatever the machine's load
    rows_file.write_text("prompt,trainer.max_steps\n" + "".join(f"{p},40\n" for p in ["goldfish", "volcano", "daisy", "goldfish:2", "volcano:2", "daisy:2"]))
    out = tmp_path / "two"
    nodes = start_nodes(rows_file, config, out, tmp_path, "--node-timeout", "10")
    part = out / "parts" / "scores.rank1.csv"
    try:
        deadline = time.monotonic() + 400
        while not (part.is_file() and len(part.read_text().splitlines()) >= 2):  # node 1's first row is written
            assert nodes[1].poll() is None and time.monotonic() < deadline, "node 1 made no row"
            time.sleep(0.1)
        signal_machine(nodes[1], signal_)
        lost_at = time.monotonic()
        log = nodes[0].communicate(timeout=400)[0]
        waited = time.monotonic() - lost_at
    finally:
        for node in nodes:
            signal_machine(node, signal.SIGKILL)
            node.wait(30)
    assert nodes[0].returncode != 0, log
    sentence = [line for line in log.splitlines() if "stopped answering" in line]
    assert len(sentence) == 1 and "worker 1 of 2 stopped answering" in sentence[0] and "run the same command again" in sentence[0], log
    assert "Connection closed by peer" not in log and "dasag/batch" not in log, log  # no traceback through our code
    assert waited < 200, waited  # node 0's remaining rows (about 2) plus the 10 s timeout, on a busy 2-core machine
    table = run_batch(rows_file, config, out, threads=1)  # the rerun, on one machine
    assert sorted(table["sample"]) == list(range(6))
    assert set(table["file_hash"]) == {p.stem for p in (out / "images").iterdir()}
