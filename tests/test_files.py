"""One atomic file write for every output: readers and crashes never see half a file."""

from __future__ import annotations

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
