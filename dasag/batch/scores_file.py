"""``scores.csv`` that survives being killed: every append rewrites a temp file and renames it.

A rename is atomic, so at any instant the file on disk is either the old complete table
or the new complete table; a kill loses at most the row of the image in progress and
never leaves half a line. Tables are small (one row per image), so rewriting is cheap.
With several workers each writes its own part file; :func:`merge` joins them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dasag.core.files import write_bytes_atomic

#: Folder (under the output directory) of the per-worker row files.
PARTS_DIR = "parts"


def write_atomic(path: Path, frame: pd.DataFrame) -> None:
    """Write a CSV through a temp file, flushed to disk, then renamed over ``path``."""
    write_bytes_atomic(path, frame.to_csv(index=False).encode())


def read_rows(path: Path) -> pd.DataFrame:
    """A rows file, or an empty table when it does not exist yet."""
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


class RowLog:
    """Append-only table of finished images, keyed by ``(method, sample)``."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.frame = read_rows(self.path)
        if not self.frame.empty:
            missing = [c for c in self.columns if c not in self.frame.columns]
            if missing:
                raise ValueError(f"{str(self.path)!r} lacks the columns {missing} this run writes (was it made with other --eval-scorer options?).")

    def append(self, row: dict[str, Any]) -> None:
        """Add one finished image's row; durable once this returns."""
        new = pd.DataFrame([{c: row.get(c) for c in self.columns}], columns=self.columns)
        self.frame = new if self.frame.empty else pd.concat([self.frame, new], ignore_index=True)
        write_atomic(self.path, self.frame)


def done_keys(frames: Iterable[pd.DataFrame]) -> set[tuple[str, int]]:
    """``(method, sample)`` of every stored row."""
    keys: set[tuple[str, int]] = set()
    for f in frames:
        if not f.empty:
            keys.update(zip(f["method"].astype(str), f["sample"].astype(int)))
    return keys


def part_paths(out: Path) -> list[Path]:
    return sorted((out / PARTS_DIR).glob("scores.rank*.csv"))


def merge(out: Path, columns: Sequence[str], order: Sequence[str]) -> pd.DataFrame:
    """Fold every part file into ``scores.csv`` (one row per key, methods in ``order``).

    The merged table is written before the parts are removed, so a kill in between only
    leaves duplicates that the next merge drops again.
    """
    scores = out / "scores.csv"
    frames = [read_rows(scores)] + [read_rows(p) for p in part_paths(out)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    table = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["method", "sample"], keep="first")
    rank = {m: i for i, m in enumerate(order)}
    table = table.assign(_order=table["method"].map(lambda m: rank.get(m, len(rank)))).sort_values(["_order", "sample"], kind="stable")
    table = table.drop(columns="_order").reset_index(drop=True)
    table = table[[c for c in columns if c in table.columns] + [c for c in table.columns if c not in columns]]
    write_atomic(scores, table)
    for p in part_paths(out):
        p.unlink(missing_ok=True)
    parts = out / PARTS_DIR
    if parts.is_dir() and not any(parts.iterdir()):  # a finished run leaves no empty working folder in its results
        parts.rmdir()
    return table
