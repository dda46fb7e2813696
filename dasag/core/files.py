"""Writing a file so that no reader and no crash ever sees half of it.

Every output dasag keeps (exported PNGs, style embeddings, benchmark images, CSV rows,
reports) goes through :func:`write_bytes_atomic`: the bytes go to a temp file in the same
folder, are flushed to disk, and the temp file is renamed over the target, which is atomic
on POSIX. The temp name carries the host and the process id, so workers writing into one
folder (on one machine or several sharing it) never share a temp file, and a clean-up only
removes the temps of this machine's dead processes.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
from collections.abc import Iterable
from pathlib import Path

from dasag.core.errors import ConfigError

#: errno values that mean "the disk (or the quota, or the file size limit) is full", in words.
NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit reached"}


class DiskFullError(OSError):
    """A write that ran out of space; the message names the file (``f.write`` errors do not)."""

    def __str__(self) -> str:
        return str(self.strerror)


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is a write that ran out of space (disk, quota or file size limit)."""
    return isinstance(error, OSError) and error.errno in NO_SPACE


def _no_space_while_writing(code: int | None, where: str) -> str:
    return f"{NO_SPACE.get(code, 'no space left on device')} while writing {where}"


def disk_full_message(error: OSError) -> str:
    """``no space left on device while writing 'PATH'`` for any disk-full error (its file when known)."""
    if isinstance(error, DiskFullError):
        return str(error)
    return _no_space_while_writing(error.errno, repr(str(error.filename)) if error.filename else "one of the run's files")


def this_host() -> str:
    """This machine's name as it appears in temp names and lock records (dots and other
    punctuation become ``-``, so a name splits back unambiguously)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def temp_path(path: str | os.PathLike, pid: int | None = None) -> Path:
    """Where :func:`write_bytes_atomic` writes ``path``'s bytes first: ``.<name>.<host>.<pid>.tmp``
    beside it (``pid``: this process by default)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{this_host()}.{os.getpid() if pid is None else pid}.tmp")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; on failure nothing is left behind. A full disk is
    :class:`DiskFullError` naming ``path``, and the file already under that name stays as it was.
    Something else where the file goes (a folder, a link that leads nowhere) or a file where one of
    its folders goes is one :class:`ConfigError` sentence naming it: the last guard behind the
    checks a command makes before it writes (:func:`check_in_place`)."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # its folder is not a folder: there is no temp file to remove
            pass
        if is_disk_full(e) and not isinstance(e, DiskFullError):
            raise DiskFullError(e.errno, _no_space_while_writing(e.errno, repr(str(path))), str(path)) from None
        if isinstance(e, (IsADirectoryError, NotADirectoryError, FileExistsError)) or getattr(e, "errno", None) == errno.ELOOP:
            raise ConfigError(_in_the_way(path)) from None  # something else sits where the file or its folder goes
        raise
    return path


def _in_the_way(path: Path) -> str:
    """The sentence for a write that found something other than a file (or a folder above it) in its place."""
    for spot in (path, *path.parents):
        reason = not_a_file(spot) if spot == path else not_a_folder(spot)
        if reason:
            return f"{str(spot)!r} {reason}, where the run keeps a {'file' if spot == path else 'folder'}: move it away, then run again."
    return f"{str(path)!r} cannot be written: something else is in its place; move it away, then run again."


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temp files :func:`write_bytes_atomic` left behind in ``folder`` when its
    process was killed mid-write: ``.<name>.<host>.<pid>.tmp`` of this host whose pid is no
    longer running. A live writer's temp file, and any other machine's (whose processes cannot
    be seen from here), is left alone, so runs sharing a folder never delete each other's work.
    Returns what was removed."""
    removed = []
    host = this_host()
    for tmp in Path(folder).glob(".*.*.*.tmp"):
        parts = tmp.name[: -len(".tmp")].rsplit(".", 2)
        if len(parts) != 3 or parts[1] != host or not parts[2].isdigit() or _running(int(parts[2])):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


# ------------------------------------------------------------------ checks
def not_a_file(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read or replaced as a plain file, in words, or ``None`` (absent, or a
    file or a link to one). A folder, a link that leads nowhere (a loop or a missing target), a
    pipe or a device where a run keeps a file would end in an ``OSError`` traceback mid-run
    (``IsADirectoryError`` at the first save, ``ELOOP`` at the first read): callers name it first."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    try:
        mode = path.stat().st_mode
    except OSError as e:
        if path.is_symlink():
            return "is a symbolic link that leads nowhere (a loop or a missing target)"
        if not os.path.lexists(path):  # removed since the first look: absent
            return None
        return f"cannot be examined ({e.strerror or type(e).__name__})"
    if stat.S_ISDIR(mode):
        return "is a folder"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def not_a_folder(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be used as a folder, in words, or ``None`` (absent, or a folder or a link to one)."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return "is a symbolic link that leads nowhere (a loop or a missing target)" if path.is_symlink() else "cannot be examined"
    return None if stat.S_ISDIR(mode) else "is a file, not a folder"


def check_in_place(files: Iterable[str | os.PathLike] = (), folders: Iterable[str | os.PathLike] = (), advice: str = "move it away, then run again") -> None:
    """Every path in ``files`` is absent or a file, every path in ``folders`` absent or a folder; the
    first that is not is one :class:`ConfigError` sentence naming it and ``advice``. Run before a
    command takes its folder, so nothing is written when something is in the way."""
    for kind, paths, why in (("file", files, not_a_file), ("folder", folders, not_a_folder)):
        for path in paths:
            reason = why(path)
            if reason:
                raise ConfigError(f"{str(path)!r} {reason}, where the run keeps a {kind}: {advice}.")


def check_writable(path: str | os.PathLike, what: str) -> None:
    """``path`` must be a folder that exists or can be created, and be writable; nothing is created."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} exists and is not a directory.")
    anchor = path.absolute()
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(path)!r} is not writable (nearest existing folder: {str(anchor)!r}).")


def check_output_dir(root: str | os.PathLike | None) -> None:
    """The run's output directory (``trainer.default_root_dir``) must be creatable and writable."""
    check_writable(root or os.getcwd(), "trainer.default_root_dir")


#: The files the shipped configs name (a photograph, a mask, style pictures, a style embedding):
#: package data, named ``assets/...`` in a config so it runs from any folder, an installed wheel included.
ASSETS_PREFIX = "assets/"


def user_file(value: str | os.PathLike) -> Path:
    """A file (or folder) a config or an option names: as given, relative to the working folder; a
    name starting with ``assets/`` that is not there is the shipped asset of that name. A missing
    file is left for the caller to name in its own sentence."""
    from dasag.core.config import CONFIGS

    path = Path(value).expanduser()
    if not path.exists() and str(value).startswith(ASSETS_PREFIX) and (CONFIGS / str(value)).exists():
        return CONFIGS / str(value)
    return path
