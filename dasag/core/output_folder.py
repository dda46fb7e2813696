"""A command's output folder: one writer at a time, and the options stored with what it holds.

Every command that writes into a folder it may continue later (the harness and batch runs,
animation, growth) holds its lock while it writes, clears the temp files a killed writer left,
and stores the options that decide its files, so a rerun with other options is refused rather
than mixing two runs in one folder.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dasag.core.errors import ConfigError


class FolderInUse(RuntimeError):
    """Another live process holds the folder's lock."""


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "folder"):
    """Hold the folder's lock for the block; :class:`FolderInUse` names the holder if another process has it.

    The lock is an OS file lock on ``folder/.lock`` (``filelock``: ``flock`` on POSIX), not a pid
    file: the kernel releases it when its holder dies, however it dies, so a killed run never
    blocks the next one, and two processes can never both hold it (there is no "is the holder
    still alive?" guess to race on, and no pid that means another process on another machine).
    On a network file system it is as good as the file system's own locking (NFSv4 and Lustre
    forward ``flock``; see docs/batch.md). The ``.lock`` file may stay after release (whether
    ``filelock`` removes it depends on its version and the file system); what counts is the OS
    lock on it, which :func:`lock_is_free` asks for. ``.lock.holder``
    names the holder (``pid N on host H``) for the refusal message only. A lock or holder file
    that cannot be used (a folder, a link, unreadable) is one :class:`ConfigError` sentence
    (:func:`check_lock_files` says which).
    """
    from filelock import FileLock, Timeout

    from dasag.core.files import this_host, write_bytes_atomic

    path = Path(folder) / LOCK_FILE
    check_lock_files(folder, what)  # before the lock file is made
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = path.with_name(HOLDER_FILE)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:  # (a TimeoutError, so an OSError: before the clause below)
        try:
            who = holder.read_text().strip()
        except OSError:
            who = ""
        raise FolderInUse(
            f"{what} {str(folder)!r} is in use by another process ({who or 'it has not said which'}); wait for it to finish or choose another folder."
        ) from None
    except OSError:  # filelock refuses a link or a folder with an OSError: say which in one sentence
        check_lock_files(folder, what)
        raise
    try:
        check_lock_files(folder, what)  # the holder file, now that no other holder can be writing or removing it
    except ConfigError:
        lock.release()
        raise
    try:
        write_bytes_atomic(holder, f"pid {os.getpid()} on host {this_host()}".encode())
        yield path
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


#: The lock file of a folder, and the file beside it that names its holder.
LOCK_FILE, HOLDER_FILE = ".lock", ".lock.holder"


def check_lock_files(folder: str | os.PathLike, what: str = "folder") -> None:
    """``folder``'s lock and holder files are absent or plain files this process can open: anything
    else is one :class:`ConfigError` sentence naming it, before anything in the folder changes
    (filelock refuses a link, even to a file, and a folder or an unreadable file end in an
    ``OSError`` at the first lock or save otherwise). Neither file holds anything a run needs, so
    the advice is to remove it (a process holding the lock keeps its lock on the open file)."""
    from dasag.core.files import not_a_file

    for name in (LOCK_FILE, HOLDER_FILE):
        path = Path(folder) / name
        if not os.path.lexists(path):
            continue
        reason = not_a_file(path)
        if reason is None and name == LOCK_FILE and path.is_symlink():
            reason = "is a symbolic link (a lock must be a plain file)"
        if reason is None and not os.access(path, os.R_OK | (os.W_OK if name == LOCK_FILE else 0)) and os.path.lexists(path):
            reason = "cannot be opened by this user (its permissions)"  # (a holder file its live holder just removed is fine)
        if reason:
            label = "the lock file" if name == LOCK_FILE else "the lock's holder file"
            raise ConfigError(f"{label} {str(path)!r} of {what} {str(folder)!r} {reason}: move it away (no result is kept in it), then run again.")


def lock_is_free(folder: str | os.PathLike) -> bool:
    """Whether no process holds ``folder``'s lock right now (for tests and status lines)."""
    try:
        with folder_lock(folder):
            return True
    except FolderInUse:
        return False


def read_stored_json(path: str | os.PathLike, advice: str, required_key: str | None = None) -> dict[str, Any] | None:
    """The JSON mapping a run stored at ``path`` to continue from (``None``: no run there yet). A file
    a kill or another program left unreadable is one sentence: what is wrong with it, then ``advice``."""
    import json

    path = Path(path)
    if path.exists() and not path.is_file():
        raise ConfigError(f"{str(path)!r} is a folder (or another non-file) where the run keeps its state file: move it away, then run again.")
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{str(path)!r} cannot be read ({e.strerror or type(e).__name__}): {advice}") from None
    except (UnicodeDecodeError, ValueError):
        stored = None
    if isinstance(stored, dict) and (required_key is None or required_key in stored):
        return stored
    reason = "empty" if path.stat().st_size == 0 else "not a JSON mapping" if not isinstance(stored, dict) else f"it has no {required_key!r}"
    raise ConfigError(f"{str(path)!r} is unreadable ({reason}): {advice}")


def as_json(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples as lists, keys as strings, paths as text): the form
    options are stored and compared in."""
    import json

    return json.loads(json.dumps(value, sort_keys=True, default=str))


def first_difference(stored: Any, given: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first key path where two JSON values differ, with both values (``None``: equal)."""
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in sorted(set(stored) | set(given)):
            found = first_difference(stored.get(key), given.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return None if stored == given else (path, stored, given)


class OutputFolder:
    """The folder a command writes and may continue later (``--out``), with the options stored in it.

    :meth:`stored` reads what an earlier run stored (one sentence if the file is damaged);
    :meth:`check` refuses options that differ from them, naming the first key that differs;
    :meth:`claim` holds the folder's lock, clears the temp files a killed writer left and stores the
    options, all before the command writes anything else. The harness, batches, animation and
    growth each use one, so the rules are the same for every command.
    """

    def __init__(self, path: str | os.PathLike, options_file: str, what: str, advice: str, subfolders: tuple[str, ...] = (),
                 files: tuple[str, ...] = (), folders: tuple[str, ...] = ()) -> None:
        """
        Args:
            path: the folder (``--out``).
            options_file: the JSON file in it that holds the options deciding its files (``run.json``).
            what: what the folder holds, in words (``an animation``), for the sentence that refuses other options.
            advice: what to do when the options file is damaged (e.g. "delete it and run again ...").
            subfolders: folders under ``path`` whose killed writes' temp files are cleared too.
            files: the other files the command writes in ``path`` (``scores.csv``, ``report.md``), and
            folders: the other folders it writes into (``tensorboard``): :meth:`check` refuses what is in their way.
        """
        self.path = Path(path)
        self.options_file = self.path / options_file
        self.what = what
        self.advice = advice
        self.subfolders = subfolders
        self.files = files
        self.folders = folders

    def stored(self) -> dict[str, Any] | None:
        """The options an earlier run stored here (``None``: none yet)."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {str(self.path)!r} exists and is not a directory.")
        return read_stored_json(self.options_file, self.advice)

    def check(self, options: dict[str, Any], hint: str = "run the same command to continue it, or choose another --out") -> None:
        """Refuse ``options`` in one sentence if the folder holds files made with others; check it can be
        written and that nothing is in the way of its lock, its files and its folders (a folder where
        ``report.md`` goes, a file where ``images/`` goes). Nothing is written: the command calls this
        before :meth:`claim`, so a refusal leaves the folder exactly as it was."""
        from dasag.core.files import check_in_place, check_writable

        stored = self.stored()
        if stored is not None:
            found = first_difference(stored, as_json(options))
            if found:
                key, was, now = found
                raise ConfigError(f"--out {str(self.path)!r} holds {self.what} made with {key}={was!r}; got {key}={now!r} ({hint}).")
        check_writable(self.path, "--out")
        check_lock_files(self.path, "--out")
        check_in_place([self.path / f for f in self.files], [self.path / f for f in (*self.subfolders, *self.folders)])

    @contextmanager
    def claim(self, options: dict[str, Any]):
        """Hold the folder for the block: lock it (one sentence if another process holds it), clear
        the temp files of killed writes, store ``options`` (whole or absent, even if killed)."""
        import json

        from dasag.core.files import remove_stale_temps, write_bytes_atomic

        try:
            with folder_lock(self.path, "--out"):
                for folder in (self.path, *(self.path / s for s in self.subfolders)):
                    remove_stale_temps(folder)
                write_bytes_atomic(self.options_file, json.dumps(as_json(options), indent=2, sort_keys=True).encode())
                yield self
        except FolderInUse as e:
            raise ConfigError(str(e)) from None
