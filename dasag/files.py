"""Writing a file so that no reader and no crash ever sees half of it.

Every output dasag keeps (exported PNGs, style embeddings, benchmark images, CSV rows,
reports) goes through :func:`write_bytes_atomic`: the bytes go to a temp file in the same
folder, are flushed to disk, and the temp file is renamed over the target, which is atomic
on POSIX. The temp name carries the process id, so sharded workers writing into one
folder never share a temp file.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; on failure nothing is left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
