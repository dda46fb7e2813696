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


# ------------------------------------------------------------------ something in the way
def _odd_entries(folder):
    """A folder, a link loop, a link to nowhere, a fifo, a plain file and a link to it, under ``folder``."""
    import os

    (folder / "a_folder").mkdir()
    os.symlink("loop", folder / "loop")
    os.symlink("nowhere/at/all", folder / "dangling")
    os.mkfifo(folder / "fifo")
    (folder / "file").write_text("x")
    os.symlink("file", folder / "link_to_file")


def test_not_a_file_and_not_a_folder_say_what_is_there(tmp_path):
    _odd_entries(tmp_path)
    loop = "is a symbolic link that leads nowhere (a loop or a missing target)"
    assert [files.not_a_file(tmp_path / n) for n in ("absent", "file", "link_to_file", "a_folder", "loop", "dangling", "fifo")] == [
        None, None, None, "is a folder", loop, loop, "is not a regular file"]
    assert [files.not_a_folder(tmp_path / n) for n in ("absent", "a_folder", "file", "loop")] == [None, None, "is a file, not a folder", loop]


def test_check_in_place_names_the_first_thing_in_the_way_and_creates_nothing(tmp_path):
    _odd_entries(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    files.check_in_place([tmp_path / "file", tmp_path / "absent"], [tmp_path / "a_folder", tmp_path / "new"])  # all fine
    with pytest.raises(ConfigError) as caught:
        files.check_in_place([tmp_path / "file", tmp_path / "a_folder"], [])
    assert str(caught.value) == f"{str(tmp_path / 'a_folder')!r} is a folder, where the run keeps a file: move it away, then run again."
    with pytest.raises(ConfigError, match=r"'.*/loop' is a symbolic link that leads nowhere \(a loop or a missing target\), where the run keeps a folder"):
        files.check_in_place([], [tmp_path / "loop"])
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("target", "spot", "words"), [
    ("a_folder", "a_folder", "is a folder, where the run keeps a file"),
    ("file/x.png", "file", "is a file, not a folder, where the run keeps a folder"),
    ("file/deeper/x.png", "file", "is a file, not a folder, where the run keeps a folder"),
    ("loop/x.png", "loop", "is a symbolic link that leads nowhere"),
])
def test_a_write_that_finds_something_in_the_way_is_one_sentence_not_an_os_error(tmp_path, target, spot, words):
    """It was IsADirectoryError (a folder named report.md) or NotADirectoryError from deep in a run."""
    _odd_entries(tmp_path)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    with pytest.raises(ConfigError) as caught:
        write_bytes_atomic(tmp_path / target, b"data")
    assert str(caught.value).startswith(f"{str(tmp_path / spot)!r} {words}") and str(caught.value).endswith("move it away, then run again.")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before  # no temp file left behind
