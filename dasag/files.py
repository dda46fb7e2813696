"""Writing a file so that no reader and no crash ever sees half of it.

Every output dasag keeps (exported PNGs, style embeddings, benchmark images, CSV rows,
reports) goes through :func:`write_bytes_atomic`: the bytes go to a temp file in the same
folder, are flushed to disk, and the temp file is renamed over the target, which is atomic
on POSIX. The temp name carries the process id, so sharded workers writing into one
folder never share a temp file.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path

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


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; on failure nothing is left behind. A full disk is
    :class:`DiskFullError` naming ``path``, and the file already under that name stays as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e) and not isinstance(e, DiskFullError):
            raise DiskFullError(e.errno, _no_space_while_writing(e.errno, repr(str(path))), str(path)) from None
        raise
    return path


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temp files :func:`write_bytes_atomic` left behind in ``folder`` when its
    process was killed mid-write (``.<name>.<pid>.tmp`` whose pid is no longer running).
    A live writer's temp file is left alone, so two runs sharing a folder cannot delete
    each other's work. Returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(".*.*.tmp"):
        pid_text = tmp.name[: -len(".tmp")].rsplit(".", 1)[-1]
        if not pid_text.isdigit() or _running(int(pid_text)):
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


class FolderInUse(RuntimeError):
    """Another live process holds the folder's lock."""


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "folder"):
    """Hold ``folder/.lock`` (created with O_EXCL, holding this pid) for the duration.

    A lock whose process is gone (killed) is taken over; one held by a live process raises
    :class:`FolderInUse` naming its pid, so two writers never share a folder.
    """
    path = Path(folder) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = int(path.read_text().strip() or "0")
            except (OSError, ValueError):
                holder = 0
            if holder and _running(holder) and holder != os.getpid():
                raise FolderInUse(
                    f"{what} {str(folder)!r} is in use by another process (pid {holder}); wait for it to finish or choose another folder."
                ) from None
            path.unlink(missing_ok=True)  # a killed holder's lock
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    else:
        raise FolderInUse(f"{what} {str(folder)!r} is being claimed by another process; try again.")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
