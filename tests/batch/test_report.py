"""What a finished batch shows: a contact sheet of every row's picture, and report.md naming every row; an empty table writes nothing."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dasag.batch.report import CAPTION, THUMB, contact_sheet, write_report
from dasag.batch.tasks import RunSpec

COLOURS = {"aa11": (220, 30, 30), "bb22": (30, 200, 40), "cc33": (20, 40, 210)}


def batch_folder(tmp_path) -> tuple[pd.DataFrame, object]:
    """Three finished rows (out of order, as workers finish them), each picture a flat colour under out/images/<hash>.png."""
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    for file_hash, colour in COLOURS.items():
        Image.fromarray(np.full((48, 48, 3), colour, np.uint8)).save(out / "images" / f"{file_hash}.png")
    table = pd.DataFrame([
        {"sample": 2, "seed": 12, "name": "ship", "prompt": "a ship | at sea", "file_hash": "cc33", "lite0/positive": -0.25, "look/contrast": 0.1,
         "seconds": 30.0},
        {"sample": 0, "seed": 10, "name": "cat", "prompt": "a cat", "file_hash": "aa11", "lite0/positive": -1.5, "look/contrast": 0.2, "seconds": 60.0},
        {"sample": 1, "seed": 11, "name": None, "prompt": "a volcano", "file_hash": "bb22", "lite0/positive": -0.75, "look/contrast": 0.3,
         "seconds": 90.0},
    ])
    spec = RunSpec(suite="batch", out=out, rows=tmp_path / "rows.csv", config=tmp_path / "run.yaml")
    return table, spec


def sheet_of(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def grid_pad(width: int, height: int, cols: int, rows: int) -> int:
    """The spacing of a grid of THUMB-wide cells with a caption band under each, as the sheet's size says it."""
    pad, rest = divmod(width - cols * THUMB, cols + 1)
    assert rest == 0 and pad > 0
    assert height == rows * (THUMB + CAPTION) + (rows + 1) * pad  # the same spacing down the sheet
    return pad


def test_the_contact_sheet_is_a_grid_of_every_rows_picture(tmp_path):
    table, spec = batch_folder(tmp_path)
    table = table.sort_values("sample").reset_index(drop=True)
    sheet = sheet_of(contact_sheet(table, spec.out))
    cols = math.ceil(math.sqrt(3))  # 2 columns, 2 rows for 3 pictures
    height, width, _ = sheet.shape
    pad = grid_pad(width, height, cols, rows=2)
    for i, file_hash in enumerate(table["file_hash"]):
        r, c = divmod(i, cols)
        x, y = pad + c * (THUMB + pad), pad + r * (THUMB + CAPTION + pad)
        cell = sheet[y + 8 : y + THUMB - 8, x + 8 : x + THUMB - 8].reshape(-1, 3)
        assert np.abs(cell.astype(int) - COLOURS[file_hash]).max() <= 2  # the row's own picture, in row order
        band = sheet[y + THUMB : y + THUMB + CAPTION, x : x + THUMB]
        assert (band < 128).any()  # a caption is written under it
    empty = sheet[pad + THUMB + CAPTION + pad :, pad + THUMB + pad :]
    assert (empty == 255).all()  # the fourth cell stays white


def test_the_contact_sheet_takes_a_column_count_and_depends_only_on_its_inputs(tmp_path):
    table, spec = batch_folder(tmp_path)
    png = contact_sheet(table, spec.out, columns=3)
    height, width, _ = sheet_of(png).shape
    grid_pad(width, height, cols=3, rows=1)
    assert contact_sheet(table, spec.out, columns=3) == png


def test_write_report_writes_the_sheet_and_a_report_naming_every_row_in_row_order(tmp_path):
    table, spec = batch_folder(tmp_path)
    written = write_report(None, table, spec.out, spec)
    assert written == {"contact_sheet": spec.out / "contact_sheet.png", "report": spec.out / "report.md"}
    ordered = table.sort_values("sample").reset_index(drop=True)
    assert written["contact_sheet"].read_bytes() == contact_sheet(ordered, spec.out)
    report = written["report"].read_text()
    assert "rows.csv" in report and str(spec.config) in report
    rows = [line for line in report.splitlines() if line.startswith("| ") and not line.startswith("| row ")]
    assert [line.split(" | ")[0] for line in rows] == ["| 1", "| 2", "| 3"]  # numbered from 1, by sample
    for line, row in zip(rows, ordered.to_dict("records")):
        assert f" {row['seed']} " in line and f"{row['lite0/positive']:.3f}" in line
        if isinstance(row["name"], str):
            assert f"| {row['name']} |" in line
    assert "a cat" in rows[0] and "a volcano" in rows[1] and "a ship \\| at sea" in rows[2]  # a | in a prompt keeps the table's columns
    assert "| 2 |  | a volcano |" in rows[1]  # a row without a name: an empty cell, not "None"
    header = next(line for line in report.splitlines() if line.startswith("| row "))
    assert "lite0/positive" in header and "look/contrast" not in header  # scores, not the look measures
    assert "Rows: 3" in report and "3.0 min" in report  # 30 + 60 + 90 s


def test_an_empty_table_writes_nothing(tmp_path):
    table, spec = batch_folder(tmp_path)
    before = sorted(p.name for p in spec.out.iterdir())
    assert write_report(None, table.iloc[0:0], spec.out, spec) == {}
    assert sorted(p.name for p in spec.out.iterdir()) == before


def test_a_missing_picture_is_not_papered_over(tmp_path):
    table, spec = batch_folder(tmp_path)
    (spec.out / "images" / "bb22.png").unlink()
    with pytest.raises(FileNotFoundError):
        contact_sheet(table, spec.out)
