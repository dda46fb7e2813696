"""A command's --out folder: one writer at a time, stored options compared one way, damaged state named."""

from __future__ import annotations

import pytest

from dasag.core import output_folder
from dasag.core.errors import ConfigError
from dasag.core.output_folder import first_difference


def test_a_stored_json_file_a_kill_broke_is_one_sentence_with_the_advice(tmp_path) -> None:
    from dasag.core.output_folder import read_stored_json

    path = tmp_path / "state.json"
    assert read_stored_json(path, "advice.") is None  # no run yet
    path.write_text('{"config": {}}')
    assert read_stored_json(path, "advice.", "config") == {"config": {}}
    for text, reason in (("", "empty"), ("[1, 2]", "not a JSON mapping"), ("{oops", "not a JSON mapping"), ('{"a": 1}', "it has no 'config'")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"state.json' is unreadable \({reason}\): advice\.$"):
            read_stored_json(path, "advice.", "config")


def test_a_killed_holders_lock_is_taken_over_and_released(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(str(dead.pid))
    with output_folder.folder_lock(tmp_path) as lock:
        assert lock.read_text() == str(__import__("os").getpid())
        # a second process claiming it while this one holds it is refused
        child = subprocess.run([sys.executable, "-c", f"from dasag.core import output_folder\nwith output_folder.folder_lock({str(tmp_path)!r}): pass"],
                               capture_output=True, text=True)
        assert child.returncode != 0 and "FolderInUse" in child.stderr and "in use by another process" in child.stderr
    assert not (tmp_path / ".lock").exists()


def test_first_difference_names_the_key_path() -> None:
    assert first_difference({"a": {"b": 1, "c": [1]}}, {"a": {"b": 1, "c": [1]}}) is None
    assert first_difference({"a": {"b": 1}}, {"a": {"b": 2}}) == ("a.b", 1, 2)
    assert first_difference({"a": 1}, {"a": 1, "z": 0}) == ("z", None, 0)
