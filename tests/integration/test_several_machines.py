"""Several machines share one run: two torchrun nodes on localhost make every row once, the bytes of one node."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from dasag.batch.rows_file import run_batch
from feature_helpers import REPO, free_port


@pytest.mark.slow
def test_two_torchrun_nodes_on_localhost_make_the_images_of_one_node(batch_files, tmp_path) -> None:
    """Two "machines" (two torchrun agents with node ranks 0 and 1, gloo over localhost) share one
    output folder: every row exactly once, the same bytes as a one-node run."""
    rows_file, config = batch_files
    single = run_batch(rows_file, config, tmp_path / "one", threads=1)
    out = tmp_path / "two"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(rank),
             "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "dasag", "batch", str(rows_file), "--config", str(config),
             "--out", str(out), "--num-nodes", "2", "--threads", "1", "--accelerator", "cpu"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, start_new_session=True,
        )
        for rank in (0, 1)
    ]
    try:
        logs = [node.communicate(timeout=600)[0] for node in nodes]
    finally:  # a node that failed leaves the other waiting at a barrier: never leave it running
        for node in nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)  # the agent and the worker it started
    assert [node.returncode for node in nodes] == [0, 0], logs
    table = pd.read_csv(out / "scores.csv")
    assert list(table["sample"]) == [0, 1, 2]
    assert list(table["file_hash"]) == list(single["file_hash"])
    assert set(table["file_hash"]) == {p.stem for p in (out / "images").iterdir()}
    assert "[1] row" in logs[1] and "[0] row" in logs[0]  # both nodes made images
    assert (out / "contact_sheet.png").is_file() and not list((out / "parts").glob("*.csv"))
