"""Batch runs (:mod:`dasag.commands.batch`): rows -> images with the harness's guarantees, on one or two "nodes"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dasag.batch.rows_file import check_batch, read_rows_file, row_task, run_batch
from dasag.batch.tasks import RunSpec
from dasag.commands.batch import main
from dasag.core.errors import ConfigError
from dasag.image.picture import read_metadata
from dasag.quality.harness import plan

REPO = Path(__file__).resolve().parents[2]

def test_rows_become_tasks_with_seeds_prompts_and_overrides(batch_files) -> None:
    rows_file, _ = batch_files
    rows = read_rows_file(rows_file)
    assert rows[0] == {"prompt": "goldfish", "seed": 7, "name": "fish"} and rows[1]["trainer.max_steps"] == 3
    task = row_task(rows[1], 1, base_seed=100, where="row 2")
    assert task.seed == 101 and task.sample == 1
    assert task.overrides == {"trainer": {"max_steps": 3}, "data": {"positive_prompts": ["goldfish:2 | volcano:0.5"], "negative_prompts": ["daisy"]}}
    assert task.columns == {"name": "blend", "prompt": "goldfish:2 | volcano:0.5", "negative": "daisy"}
    yaml_rows = rows_file.with_suffix(".yaml")
    yaml_rows.write_text("rows:\n  - {prompt: goldfish, model.pyramid.init_args.max_size: 128}\n")
    assert read_rows_file(yaml_rows) == [{"prompt": "goldfish", "model.pyramid.init_args.max_size": 128}]


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ("prompt,colour\ngoldfish,red\n", ["row 1", "unknown key 'colour'", "dotted config key"]),
        ("prompt,seed\ngoldfish,-3\n", ["row 1", "seed must be a whole number"]),
        ("prompt,seed\n,3\n", ["row 1", "needs a prompt"]),
        ("prompt\ngoldfish:lots\n", ["row 1", "is not a number"]),
        ("prompt\ngoldfish\ngoldfsh\n", ["row 2", "goldfsh"]),
        ("prompt,trainer.max_steps\ngoldfish,0\n", ["row 1", "max_steps"]),
        ("prompt,model.pyramid.init_args.max_sze\ngoldfish,3\n", ["row 1", "max_sze"]),
        ("prompt,name\ngoldfish,a,b\n", ["line 2 has 3 cells but the header has 2"]),
        ("", ["holds no rows"]),
        ("prompt,name\ngoldfish,fish\nvolcano,\ndaisy,fish\n", ["row 3", "repeats the name 'fish' of row 1", "its own name"]),
        ("prompt\ngoldfish:1e308\n", ["row 1", "a prompt weight must be a number from -1000 to 1000"]),
        ("prompt,negative\ngoldfish,volcano:1e300\n", ["row 1", "a prompt weight must be a number from -1000 to 1000"]),
        ("prompt\ngoldfish\n" + "a" * 200_000 + "\n", ["line 3 has a cell longer than 131,072 characters, the most a CSV cell may hold"]),
        ("prompt,prompt\ngoldfish,tench\n", ["header repeats the column 'prompt'; name each column once"]),
        ("prompt,\ngoldfish,x\n", ["header has a column without a name"]),
    ],
)
def test_a_bad_row_is_one_sentence_before_anything_is_written(batch_files, tmp_path, rows, words, capsys) -> None:
    rows_file, config = batch_files
    rows_file.write_text(rows)
    out = tmp_path / "out"
    assert main([str(rows_file), "--config", str(config), "--out", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and all(w in message for w in words), message
    assert not out.exists()


def _unreadable(path: Path, monkeypatch) -> None:
    """``path`` as a user without read permission sees it (root reads anything, so chmod alone shows nothing here)."""
    read_text = Path.read_text

    def refuse(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(path))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)


@pytest.mark.parametrize(("kind", "words"), [
    ("unreadable.csv", "rows file '{path}' cannot be read (Permission denied)."),
    ("unreadable.yaml", "rows file '{path}' cannot be read (Permission denied)."),
    ("folder.csv", "rows file '{path}' is a folder; name a .csv or .yaml rows file."),
    ("folder.yaml", "rows file '{path}' is a folder; name a .csv or .yaml rows file."),
    ("binary.csv", "rows file '{path}' is not a UTF-8 text file."),
    ("binary.yaml", "rows file '{path}' is not a UTF-8 text file."),
])
def test_a_rows_file_that_cannot_be_read_is_one_sentence(kind, words, tmp_path, monkeypatch) -> None:
    """An unreadable file was a PermissionError traceback, a folder "does not exist"."""
    path = tmp_path / kind
    if kind.startswith("folder"):
        path.mkdir()
    elif kind.startswith("binary"):
        path.write_bytes(bytes(range(256)) * 4)
    else:
        path.write_text("prompt\ngoldfish\n" if kind.endswith(".csv") else "- {prompt: goldfish}\n")
        _unreadable(path, monkeypatch)
    with pytest.raises(ConfigError) as caught:
        read_rows_file(path)
    assert str(caught.value) == words.format(path=path)


def test_a_batch_needs_both_its_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="needs a rows file and --config"):
        plan(RunSpec(suite="batch", out=tmp_path / "o", rows=tmp_path / "r.csv"))
    with pytest.raises(ConfigError, match="belong to batch runs"):
        plan(RunSpec(suite="transfer", out=tmp_path / "o", rows=tmp_path / "r.csv", config=tmp_path / "c.yaml"))


@pytest.mark.slow
def test_a_batch_runs_resumes_checks_and_refuses_an_edited_row(batch_files, tmp_path) -> None:
    rows_file, config = batch_files
    out = tmp_path / "out"

    class Killed(BaseException):
        pass

    def kill(row: dict) -> None:
        raise Killed

    with pytest.raises(Killed):  # killed after the first image: it is kept, nothing else is half-written
        _run_with_kill(rows_file, config, out, kill)
    assert len(pd.read_csv(out / "scores.csv")) == 1
    table = run_batch(rows_file, config, out, threads=1)
    assert list(table["sample"]) == [0, 1, 2] and list(table["seed"]) == [7, 1, 2]
    assert list(table["name"].fillna("")) == ["fish", "blend", ""]
    assert {"lite0/positive", "lite0/negative", "row_digest", "file_hash"} <= set(table.columns)
    assert (out / "contact_sheet.png").is_file() and "goldfish:2 \\| volcano:0.5" in (out / "report.md").read_text()
    meta = read_metadata(out / "images" / f"{table['file_hash'][1]}.png")
    assert meta["prompts"]["positive_weights"] == [2.0, 0.5] and meta["prompts"]["negative"] == ["daisy"]
    assert meta["config"]["trainer"]["max_steps"] == 3
    assert read_metadata(out / "images" / f"{table['file_hash'][2]}.png")["prompts"]["images"][0]["weight"] == 0.5
    assert check_batch(rows_file, config, out) == []
    rows_file.write_text(rows_file.read_text().replace("goldfish,,7", "goldfish,,8"))
    with pytest.raises(ConfigError, match="row 1 of .* differs from the row that made its image"):
        run_batch(rows_file, config, out)


def _run_with_kill(rows_file: Path, config: Path, out: Path, kill) -> None:
    from dasag.batch.rows_file import batch_spec
    from dasag.quality.harness import run

    run(batch_spec(rows_file, config, out, threads=1), on_row=kill)




def test_rows_sharing_a_config_are_built_once_and_each_row_is_still_checked(batch_files, tmp_path, monkeypatch) -> None:
    """A run is built (0.2 s) once per shape (overrides without prompts); every other row has its
    prompts checked against that run, so a long rows file is checked in seconds (docs/batch.md)."""
    from dasag.batch import engine, make
    from dasag.batch.rows_file import batch_spec, batch_suite

    _, config = batch_files
    built = []
    real = make.build_run
    monkeypatch.setattr(make, "build_run", lambda *a, **k: built.append(1) or real(*a, **k))
    rows = tmp_path / "many.csv"
    rows.write_text("prompt,trainer.max_steps\n" + "".join(f"{p},\n" for p in ["goldfish", "volcano", "daisy:2 | tiger"] * 20) + "teapot,3\n")
    spec = batch_spec(rows, config, tmp_path / "out")
    assert len(engine.plan(spec, batch_suite(spec.config)).tasks) == 61
    assert len(built) == 2  # the shared shape, and the row with its own step budget
    rows.write_text("prompt\n" + "goldfish\n" * 40 + "goldfsh\n" + "volcano\n" * 10)
    spec = batch_spec(rows, config, tmp_path / "out")
    with pytest.raises(ConfigError, match=r"^row 41: unknown ImageNet class 'goldfsh'"):
        engine.plan(spec, batch_suite(spec.config))
    assert not (tmp_path / "out").exists()


def test_cells_read_as_yaml_reads_them_with_plain_integers_on_a_fast_path(tmp_path) -> None:
    values = {"7": 7, "-3": -3, "0": 0, "010": 8, "1.5": 1.5, "true": True, '"[1, 2]"': [1, 2], "abc": "abc"}
    rows = tmp_path / "cells.csv"
    rows.write_text("prompt,trainer.max_steps\n" + "".join(f"goldfish,{cell}\n" for cell in values))
    got = [row["trainer.max_steps"] for row in read_rows_file(rows)]
    assert got == list(values.values()) and [type(v) for v in got] == [type(v) for v in values.values()]
