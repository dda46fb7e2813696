"""A command's --out folder: one writer at a time, stored options compared one way, damaged state named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from dasag.core import output_folder
from dasag.core.errors import ConfigError
from dasag.core.files import this_host
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


def _hold(folder, then: str = "time.sleep(60)") -> subprocess.Popen:
    """A real process that takes ``folder``'s lock, prints "held", then runs ``then``."""
    code = (f"import sys, time\nfrom dasag.core.output_folder import folder_lock\n"
            f"with folder_lock({str(folder)!r}):\n    print('held', flush=True)\n    {then}\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_holder_is_named_with_its_pid_and_host_and_a_killed_one_frees_the_lock(tmp_path) -> None:
    holder = _hold(tmp_path)
    try:
        assert not output_folder.lock_is_free(tmp_path)
        with pytest.raises(output_folder.FolderInUse, match=rf"in use by another process \(pid {holder.pid} on host {this_host()}\); wait"):
            with output_folder.folder_lock(tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    # the kernel released a SIGKILLed holder's lock: nothing to take over, nothing to guess
    assert output_folder.lock_is_free(tmp_path)
    with output_folder.folder_lock(tmp_path) as lock:
        assert (tmp_path / ".lock.holder").read_text() == f"pid {os.getpid()} on host {this_host()}"
        assert lock == tmp_path / ".lock"
    assert output_folder.lock_is_free(tmp_path) and not (tmp_path / ".lock.holder").exists()


def test_a_stale_holder_record_of_a_dead_or_remote_process_does_not_block(tmp_path) -> None:
    """The pid-file lock took over a lock whose pid was not running here, which is every lock of
    another host; the OS lock does not read the record at all."""
    (tmp_path / ".lock.holder").write_text("pid 1 on host another-machine")
    with output_folder.folder_lock(tmp_path):
        assert (tmp_path / ".lock.holder").read_text().endswith(f"on host {this_host()}")


def test_processes_racing_for_one_folder_never_hold_it_together(tmp_path) -> None:
    """Six real processes take and release one folder's lock 15 times each as fast as they can,
    each logging its entry and exit while it holds it: the log never shows two holders at once."""
    log = tmp_path / "log"
    code = (
        "import os, sys, time\nfrom dasag.core.output_folder import FolderInUse, folder_lock\n"
        f"log = {str(log)!r}\ntaken = 0\n"
        "while taken < 15:\n"
        "    try:\n"
        f"        with folder_lock({str(tmp_path / 'out')!r}):\n"
        "            with open(log, 'a') as f: f.write(f'in {os.getpid()}\\n')\n"
        "            time.sleep(0.002)\n"
        "            with open(log, 'a') as f: f.write(f'out {os.getpid()}\\n')\n"
        "        taken += 1\n"
        "    except FolderInUse:\n"
        "        time.sleep(0.001)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(6)]
    assert [p.wait(120) for p in procs] == [0] * 6
    lines = log.read_text().split("\n")[:-1]
    assert len(lines) == 6 * 15 * 2
    for entry, exit_ in zip(lines[::2], lines[1::2]):
        assert entry.startswith("in ") and exit_ == "out " + entry[3:], (entry, exit_)


def test_first_difference_names_the_key_path() -> None:
    assert first_difference({"a": {"b": 1, "c": [1]}}, {"a": {"b": 1, "c": [1]}}) is None
    assert first_difference({"a": {"b": 1}}, {"a": {"b": 2}}) == ("a.b", 1, 2)
    assert first_difference({"a": 1}, {"a": 1, "z": 0}) == ("z", None, 0)
