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


# ------------------------------------------------------------------ reading a damaged rows file
GOOD = ("method,sample,seed,file_hash,heldout/lite2/top1,prompt,seconds,device\n"
        f"pyramid,0,0,{'a' * 64},1,goldfish,1.5,cpu\n"
        f"pixel,1,1,{'b' * 64},0,,2.5,cpu\n")

DAMAGED = [
    # (the file's bytes, what the sentence says is wrong)
    (b"", "is empty"),
    (b"\n\n", "is empty"),
    (bytes(range(256)) * 8, "is not a table (it is not UTF-8 text)"),
    (GOOD.encode()[:-7], "is cut short (its last line has no end)"),
    (GOOD.encode()[: GOOD.index("\npixel") + 30] + b"\n", "is cut short or damaged (line 3 has 4 of the 8 fields its header names)"),
    (GOOD.replace("method,", "meth,").encode(), "lacks the column 'method'"),
    (b"just some words\n", "lacks the columns 'method', 'sample'"),
    (b'method,sample\n"pyramid,0\n', "is not a CSV table (a quote is never closed, or it holds a NUL byte)"),
    (GOOD.replace(",1,goldfish", ",yes,goldfish").encode(), "has 'yes' in column 'heldout/lite2/top1' (row 1), where a number belongs"),
    (GOOD.replace("pixel,1,", "pixel,1.5,").encode(), "has '1.5' in column 'sample' (row 2), where a whole number belongs"),
    (GOOD.replace("pixel,1,1,b", "pixel,,1,b").encode(), "has an empty cell in column 'sample' (row 2)"),
    (GOOD.replace(f",{'b' * 64},", ",,").encode(), "has an empty cell in column 'file_hash' (row 2)"),
]


@pytest.mark.parametrize(("data", "words"), DAMAGED, ids=[w[:40] for _, w in DAMAGED])
def test_a_damaged_rows_file_is_one_sentence_naming_it_and_what_to_do(tmp_path, data, words) -> None:
    """pandas said EmptyDataError or UnicodeDecodeError naming no file, filled a cut-short line with NaN (nan% in a report),
    or read on until a KeyError; every read of a rows file now says which file, what is wrong and what to do."""
    from dasag.core.errors import ConfigError

    path = tmp_path / "scores.csv"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        rows_mod.read_rows(path)
    assert str(caught.value) == f"{str(path)!r} {words}: {rows_mod.ROWS_ADVICE}."
    assert path.read_bytes() == data


def test_a_whole_rows_file_reads_as_pandas_wrote_it(tmp_path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(GOOD)
    table = rows_mod.read_rows(path, ["method", "sample", "file_hash"])
    assert list(table["method"]) == ["pyramid", "pixel"] and list(table["sample"]) == [0, 1]
    assert table["prompt"].isna().tolist() == [False, True]  # an empty cell where one may be (a row without a prompt) stays empty
    assert rows_mod.read_rows(tmp_path / "absent.csv").empty
    long = tmp_path / "long.csv"  # a prompt past the csv module's 128 KiB field limit (pandas, which writes it, has none)
    rows_mod.write_atomic(long, pd.DataFrame([{"method": "batch", "sample": 0, "prompt": "a" * 200_000}]))
    import csv

    limit = csv.field_size_limit()
    assert rows_mod.read_rows(long)["prompt"].str.len().tolist() == [200_000] and csv.field_size_limit() == limit  # the limit is given back


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: __import__("os").symlink(p.name, p)], ids=["folder", "link_loop"])
def test_something_other_than_a_file_where_the_rows_file_goes_is_one_sentence(tmp_path, make) -> None:
    from dasag.core.errors import ConfigError

    path = tmp_path / "scores.csv"
    make(path)
    with pytest.raises(ConfigError, match=r"scores\.csv' is (a folder|a symbolic link that leads nowhere \(a loop or a missing target\)): put back"):
        rows_mod.read_rows(path)
