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
from feature_helpers import folder_listing


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


@pytest.mark.parametrize(("name", "make", "words"), [
    (".lock", lambda p: p.mkdir(), "the lock file '{p}' of --out '{out}' is a folder"),
    (".lock", lambda p: os.symlink(".lock", p), "the lock file '{p}' of --out '{out}' is a symbolic link that leads nowhere (a loop or a missing target)"),
    (".lock", lambda p: (p.with_name("real").write_text(""), os.symlink("real", p)),
     "the lock file '{p}' of --out '{out}' is a symbolic link (a lock must be a plain file)"),
    (".lock.holder", lambda p: p.mkdir(), "the lock's holder file '{p}' of --out '{out}' is a folder"),
    (".lock.holder", lambda p: os.symlink(".lock.holder", p), "the lock's holder file '{p}' of --out '{out}' is a symbolic link that leads nowhere"),
])
def test_a_lock_or_holder_file_that_cannot_be_used_is_one_sentence_before_anything_changes(tmp_path, name, make, words) -> None:
    """filelock's IsADirectoryError or ELOOP, or write_bytes_atomic's IsADirectoryError, came out as tracebacks; the
    check runs before the folder is claimed, and the lock itself says the same if the file changed in between."""
    out = tmp_path / "out"
    out.mkdir()
    make(out / name)
    before = folder_listing(out)
    folder = output_folder.OutputFolder(out, "run.json", "a run", "advice")
    with pytest.raises(ConfigError) as caught:
        folder.check({"steps": 2})
    message = str(caught.value)
    assert message.startswith(words.format(p=out / name, out=out)) and message.endswith(": move it away (no result is kept in it), then run again.")
    with pytest.raises(ConfigError) as again:
        with folder.claim({"steps": 2}):
            pass
    assert str(again.value) == message
    assert folder_listing(out) == before


def test_a_lock_file_this_user_cannot_open_is_one_sentence(tmp_path, monkeypatch) -> None:
    """Another user's lock (mode 644, not ours) ended in filelock's PermissionError; os.access is what the check asks
    (patched here for one path, since root may open anything)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text("")
    real = os.access
    monkeypatch.setattr(output_folder.os, "access", lambda path, mode, **kw: False if str(path) == str(out / ".lock") else real(path, mode, **kw))
    with pytest.raises(ConfigError, match=r"the lock file '.*/out/\.lock' of --out '.*/out' cannot be opened by this user \(its permissions\)"):
        output_folder.OutputFolder(out, "run.json", "a run", "advice").check({})
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_check_refuses_what_is_in_the_way_of_the_folders_files_and_subfolders(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    folder = output_folder.OutputFolder(out, "run.json", "a run", "advice", subfolders=("images",), files=("report.md",), folders=("tensorboard",))
    folder.check({})  # nothing there yet: fine
    for make, words in ((lambda: (out / "report.md").mkdir(), "report.md' is a folder, where the run keeps a file"),
                        (lambda: (out / "images").write_text("x"), "images' is a file, not a folder, where the run keeps a folder"),
                        (lambda: (out / "tensorboard").write_text("x"), "tensorboard' is a file, not a folder, where the run keeps a folder")):
        make()
        before = folder_listing(out)
        with pytest.raises(ConfigError, match=words):
            folder.check({})
        assert folder_listing(out) == before
        for p in out.iterdir():
            p.rmdir() if p.is_dir() else p.unlink()
