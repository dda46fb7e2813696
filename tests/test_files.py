"""One atomic file write for every output: readers and crashes never see half a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dasag import files
from dasag.files import write_bytes_atomic


def test_write_creates_folders_and_replaces_whole_files(tmp_path):
    path = write_bytes_atomic(tmp_path / "a" / "b.bin", b"first")
    write_bytes_atomic(path, b"second")
    assert path.read_bytes() == b"second" and [p.name for p in path.parent.iterdir()] == ["b.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = write_bytes_atomic(tmp_path / "x.bin", b"old")

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_a_write_killed_mid_way_leaves_no_partial_file_and_its_temp_is_cleaned_up(tmp_path):
    """A real process, SIGKILLed after its data is on disk but before the rename: the target is
    absent (never half-written), the temp file is stale, and remove_stale_temps takes it away."""
    import os
    import signal
    import subprocess
    import sys

    target = tmp_path / "run.json"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\n"
         "from dasag import files\n"
         "def stuck(src, dst):\n"
         "    print('ready', flush=True); time.sleep(60)\n"
         "files.os.replace = stuck\n"  # stop at the moment that matters: written, not yet renamed
         f"files.write_bytes_atomic({str(target)!r}, b'{{\"suite\": \"transfer\"}}')\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
    assert not target.exists()
    temps = list(tmp_path.glob(".run.json.*.tmp"))
    assert len(temps) == 1 and temps[0].read_bytes() == b'{"suite": "transfer"}'
    live = tmp_path / f".other.png.{os.getpid()}.tmp"  # a running writer's temp file is not touched
    live.write_bytes(b"x")
    assert files.remove_stale_temps(tmp_path) == temps
    assert not temps[0].exists() and live.exists()


def test_a_killed_holders_lock_is_taken_over_and_released(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(str(dead.pid))
    with files.folder_lock(tmp_path) as lock:
        assert lock.read_text() == str(__import__("os").getpid())
        # a second process claiming it while this one holds it is refused
        child = subprocess.run([sys.executable, "-c", f"from dasag import files\nwith files.folder_lock({str(tmp_path)!r}): pass"],
                               capture_output=True, text=True)
        assert child.returncode != 0 and "FolderInUse" in child.stderr and "in use by another process" in child.stderr
    assert not (tmp_path / ".lock").exists()


def test_a_run_folder_is_discarded_only_if_this_logger_made_it_and_nothing_was_computed(tmp_path):
    from dasag.run_folder import RunLogger

    made = RunLogger(save_dir=str(tmp_path), name="logs")
    folder = Path(made.log_dir)
    (folder / "config.yaml").write_text("x: 1\n")
    assert made.created_dir == folder and made.discard_if_nothing_computed() and not folder.exists()
    kept = RunLogger(save_dir=str(tmp_path), name="logs")
    (Path(kept.log_dir) / "images").mkdir()
    (Path(kept.log_dir) / "images" / "step_000020.png").write_bytes(b"png")
    assert not kept.discard_if_nothing_computed() and Path(kept.log_dir).is_dir()  # an image was computed
    named = tmp_path / "logs" / "mine"
    named.mkdir(parents=True)
    (named / "notes.txt").write_text("the user's")
    users = RunLogger(save_dir=str(tmp_path), name="logs", version="mine")
    assert users.log_dir == str(named) and users.created_dir is None
    assert not users.discard_if_nothing_computed() and (named / "notes.txt").exists()  # never the user's folder
