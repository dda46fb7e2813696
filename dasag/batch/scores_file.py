"""``scores.csv`` that survives being killed: every append rewrites a temp file and renames it.

A rename is atomic, so at any instant the file on disk is either the old complete table
or the new complete table; a kill loses at most the row of the image in progress and
never leaves half a line. Tables are small (one row per image), so rewriting is cheap.
With several workers each writes its own part file; :func:`merge` joins them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dasag.core.errors import ConfigError
from dasag.core.files import not_a_file, write_bytes_atomic

#: Folder (under the output directory) of the per-worker row files.
PARTS_DIR = "parts"
#: What to do with a rows file that cannot be read: the images it lists are kept and come out the same when made again.
ROWS_ADVICE = "put back a good copy, or delete it to make the images it lists again (they come out the same)"


def write_atomic(path: Path, frame: pd.DataFrame) -> None:
    """Write a CSV through a temp file, flushed to disk, then renamed over ``path``."""
    write_bytes_atomic(path, frame.to_csv(index=False).encode())


def _never(column: str) -> bool:
    return False


def read_table(path: Path, columns: Sequence[str] = (), numbers: Callable[[str], bool] = _never, filled: Callable[[str], bool] = _never,
               whole: Sequence[str] = (), advice: str = ROWS_ADVICE) -> pd.DataFrame:
    """A CSV table a run wrote and reads back (``scores.csv``, its part files, ``edits.csv``), checked
    whole: an empty table when there is none yet, else one :class:`ConfigError` sentence naming the
    file, what is wrong and ``advice`` when it is not a file, cannot be read, is empty, is not text,
    is cut short (a last line without its end, a line with fewer fields than the header: pandas fills
    them with NaN without a word), lacks one of ``columns``, or has an empty cell in a column ``filled``
    accepts, a cell that is not a number in a column ``numbers`` accepts, or one that is not a whole
    number in ``whole`` (these may not be empty).
    pandas' own reports (``EmptyDataError``, a ``KeyError`` later, ``nan%`` in a report) name no file."""
    path = Path(path)
    reason = not_a_file(path)
    if reason is None and not path.is_file():
        return pd.DataFrame()

    def refuse(problem: str) -> ConfigError:
        return ConfigError(f"{str(path)!r} {problem}: {advice}.")

    if reason:
        raise refuse(reason)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise refuse(f"cannot be read ({e.strerror or type(e).__name__})") from None
    if not data.strip():
        raise refuse("is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("is not a table (it is not UTF-8 text)") from None
    if not text.endswith("\n"):  # pandas ends every line, the last one included
        raise refuse("is cut short (its last line has no end)")
    records = _records(text)
    if records is None:
        raise refuse("is not a CSV table (a quote is never closed, or it holds a NUL byte)")
    header, lines = records[0], records[1:]
    for number, fields in lines:
        if len(fields) != len(header[1]):
            raise refuse(f"is cut short or damaged (line {number} has {len(fields)} of the {len(header[1])} fields its header names)")
    lacking = [c for c in columns if c not in header[1]]
    if lacking:
        more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
        raise refuse(f"lacks the column{'s' if len(lacking) > 1 else ''} {', '.join(map(repr, lacking[:3]))}{more}")
    table = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    for name in table.columns:
        empty = table[name].isna()
        if (filled(name) or name in whole) and empty.any():
            raise refuse(f"has an empty cell in column {name!r} (row {int(empty.to_numpy().nonzero()[0][0]) + 1})")
        if numbers(name) or name in whole:
            values = pd.to_numeric(table[name], errors="coerce")
            bad = values.isna() & ~empty
            if name in whole:
                bad |= values.notna() & (values % 1 != 0)
            if bad.any():
                row = int(bad.to_numpy().nonzero()[0][0])
                kind = "a whole number" if name in whole else "a number"
                raise refuse(f"has {str(table[name].iloc[row])!r} in column {name!r} (row {row + 1}), where {kind} belongs")
    return table


def _records(text: str) -> list[tuple[int, list[str]]] | None:
    """The CSV records of ``text`` with their line numbers (blank lines skipped), or ``None`` when it
    is not CSV. The field limit is lifted for this read only: a batch row's prompt may be longer than
    the ``csv`` module's default limit (128 KiB), and pandas, which wrote it, has none."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        return [(reader.line_num, fields) for fields in reader if fields]
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(limit)


def is_score(column: str) -> bool:
    """Whether a rows file's column holds numbers: a score key (``<member>/<field>``, ``heldout/...``,
    ``look/...``) or ``seconds``."""
    return "/" in column or column == "seconds"


def read_rows(path: Path, columns: Sequence[str] = ("method", "sample"), advice: str = ROWS_ADVICE) -> pd.DataFrame:
    """A rows file (``scores.csv`` or a part of it), or an empty table when it does not exist yet;
    checked as :func:`read_table` does, with ``columns``, a whole ``sample`` in every row and a number
    in every score cell."""
    return read_table(path, columns, is_score, lambda c: c in ("method", "file_hash"), whole=("sample",), advice=advice)


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
