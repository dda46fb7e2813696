"""``scores.csv`` survives kills: atomic rewrites, shard files merged without duplicates."""

from __future__ import annotations

import pandas as pd
import pytest

from dasag.batch import scores_file as rows_mod
from dasag.core import files as files_mod


def test_a_kill_during_a_row_write_leaves_the_previous_table(tmp_path, monkeypatch) -> None:
    log = rows_mod.RowLog(tmp_path / "scores.csv", ["method", "sample", "x"])
    log.append({"method": "a", "sample": 0, "x": 1.5})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files_mod.os, "replace", killed)  # the kill lands between write and rename
    with pytest.raises(KeyboardInterrupt):
        log.append({"method": "a", "sample": 1, "x": 2.5})
    monkeypatch.undo()
    table = pd.read_csv(tmp_path / "scores.csv")
    assert table.to_dict("records") == [{"method": "a", "sample": 0, "x": 1.5}]
    assert list(tmp_path.glob(".*.tmp")) == []  # and the half-done temp file is gone


def test_shards_merge_into_one_table(tmp_path) -> None:
    out = tmp_path / "merged"
    parts = out / rows_mod.PARTS_DIR
    cols = ["method", "sample", "x"]
    rows_mod.RowLog(parts / "scores.rank1.csv", cols).append({"method": "pixel", "sample": 0, "x": 2})
    log0 = rows_mod.RowLog(parts / "scores.rank0.csv", cols)
    log0.append({"method": "pyramid", "sample": 100, "x": 1})
    log0.append({"method": "pyramid", "sample": 0, "x": 0})
    rows_mod.RowLog(out / "scores.csv", cols).append({"method": "pyramid", "sample": 0, "x": 0})  # a duplicate
    table = rows_mod.merge(out, cols, ["pyramid", "pixel"])
    assert table.to_dict("records") == [
        {"method": "pyramid", "sample": 0, "x": 0}, {"method": "pyramid", "sample": 100, "x": 1}, {"method": "pixel", "sample": 0, "x": 2}]
    assert not parts.exists() and pd.read_csv(out / "scores.csv").equals(table)  # parts merged and their folder gone
