"""One atomic file write for every output: readers and crashes never see half a file."""

from __future__ import annotations

import pytest

from dasag.core import files
from dasag.core.errors import ConfigError
from dasag.core.files import check_writable, write_bytes_atomic


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
         "from dasag.core import files\n"
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
    assert temps == [files.temp_path(target, child.pid)]
    live = files.temp_path(tmp_path / "other.png")  # a running writer's temp file is not touched,
    live.write_bytes(b"x")
    elsewhere = tmp_path / f".other.png.another-host.{child.pid}.tmp"  # nor another machine's
    elsewhere.write_bytes(b"x")
    assert files.remove_stale_temps(tmp_path) == temps
    assert not temps[0].exists() and live.exists() and elsewhere.exists()


def test_writable_check_creates_nothing(tmp_path):
    check_writable(tmp_path / "new" / "deeper", "out")
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="out .* exists and is not a directory"):
        check_writable(tmp_path / "file", "out")
    with pytest.raises(ConfigError, match="is not writable"):
        check_writable(tmp_path / "file" / "below", "out")
