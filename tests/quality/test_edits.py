"""Everyday edits (:mod:`dasag.quality.edits`): each edit does what it says, reaches the judge, and
``edits.csv`` scores each image once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dasag.batch.scores_file import write_atomic
from dasag.quality import edits


def _picture(size: int = 64) -> Image.Image:
    """Bright left half with a fine checkerboard, dark right half: every edit changes something."""
    a = np.zeros((size, size, 3), np.uint8)
    a[:, : size // 2] = 220
    a[::2, ::2] = 0
    return Image.fromarray(a)


def test_each_edit_keeps_the_size_and_changes_what_it_should() -> None:
    image = _picture()
    original = np.asarray(image).astype(int)
    for name, (_, edit) in edits.EDITS.items():
        edited = edit(image)
        assert edited.size == image.size and edited.mode == "RGB", name
        assert np.abs(np.asarray(edited).astype(int) - original).mean() > 1, name  # it did something
        assert np.array_equal(np.asarray(edit(image)), np.asarray(edited)), name  # and the same thing again
    assert np.array_equal(np.asarray(edits.mirror(image))[:, ::-1], original)
    # the resize round trip loses the one-pixel checkerboard; the crop enlarges the centre
    assert np.asarray(edits.resize_round_trip(image)).astype(int)[:, :28].std() < original[:, :28].std() / 2
    cropped = np.asarray(edits.centre_crop(image)).astype(int)
    assert cropped[:, :4].mean() > 100 and cropped[:, -4:].mean() < 10  # still bright left, dark right


def _left_is_bright(pixels, class_name: str) -> tuple[int, float]:
    left, right = pixels[..., : pixels.shape[-1] // 2].mean(), pixels[..., pixels.shape[-1] // 2 :].mean()
    return int(left > right), float(left)


def test_the_judge_sees_the_edited_picture(tmp_path) -> None:
    path = tmp_path / "a.png"
    _picture().save(path)
    row = edits.score_image(path, "goldfish", _left_is_bright)
    assert set(row) == {edits.column(e, f) for e in edits.EDITS for f in ("top1", "prob")}
    assert row[edits.column("jpeg", "top1")] == 1 and row[edits.column("crop", "top1")] == 1
    assert row[edits.column("mirror", "top1")] == 0 and row[edits.column("all", "top1")] == 0  # mirrored: right is bright


def test_edits_csv_scores_each_image_once_and_keeps_only_the_tables_images(tmp_path) -> None:
    (tmp_path / "images").mkdir()
    for h in ("h1", "h2", "h3"):
        _picture().save(tmp_path / "images" / f"{h}.png")
    calls: list[str] = []

    def judge(pixels, class_name: str) -> tuple[int, float]:
        calls.append(class_name)
        return 1, 0.5

    table = pd.DataFrame({"file_hash": ["h2", "h1"], "class_name": ["goldfish", "jellyfish"]})
    first = edits.edit_scores(tmp_path, table, judge, write_atomic)
    assert list(first["file_hash"]) == ["h1", "h2"] and len(calls) == 2 * len(edits.EDITS)
    assert (tmp_path / "edits.csv").is_file()
    again = edits.edit_scores(tmp_path, table, judge, write_atomic)
    assert len(calls) == 2 * len(edits.EDITS)  # nothing scored twice
    pd.testing.assert_frame_equal(again, first, check_dtype=False)
    more = edits.edit_scores(tmp_path, pd.concat([table, pd.DataFrame({"file_hash": ["h3"], "class_name": ["daisy"]})]), judge, write_atomic)
    assert list(more["file_hash"]) == ["h1", "h2", "h3"] and calls[-1] == "daisy" and len(calls) == 3 * len(edits.EDITS)
    fewer = edits.edit_scores(tmp_path, table.head(1), judge, write_atomic)
    assert list(fewer["file_hash"]) == ["h2"]  # a narrower report shows only its own images ...
    _picture().save(tmp_path / "images" / "h4.png")
    edits.edit_scores(tmp_path, pd.DataFrame({"file_hash": ["h4"], "class_name": ["daisy"]}), judge, write_atomic)
    assert list(pd.read_csv(tmp_path / "edits.csv")["file_hash"]) == ["h1", "h2", "h3", "h4"]  # ... and the file keeps the others'


def _damaged_edits(good: bytes, kind: str) -> bytes:
    text = good.decode()
    header = text.splitlines()[0].split(",")
    if kind == "garbage":
        return b"\xff\xfe\x00garbage" * 40
    if kind == "cut_short":
        return good[: len(good) - 9]
    if kind == "empty":
        return b""
    if kind == "no_column":  # an edit's column missing: the report printed nan% for it
        drop = header.index(edits.column("jpeg", "prob"))
        return "".join(",".join(f for i, f in enumerate(line.split(",")) if i != drop) + "\n" for line in text.splitlines()).encode()
    if kind == "empty_cell":
        lines = text.splitlines()
        fields = lines[1].split(",")
        fields[header.index(edits.column("crop", "top1"))] = ""
        return "\n".join([lines[0], ",".join(fields), *lines[2:]]).encode() + b"\n"
    raise AssertionError(kind)


EDIT_DAMAGE = [("garbage", "is not a table (it is not UTF-8 text)"), ("cut_short", "is cut short (its last line has no end)"), ("empty", "is empty"),
               ("no_column", "lacks the column 'edit/jpeg/prob'"), ("empty_cell", "has an empty cell in column 'edit/crop/top1' (row 1)")]


@pytest.mark.parametrize(("kind", "words"), EDIT_DAMAGE, ids=[k for k, _ in EDIT_DAMAGE])
def test_a_damaged_edits_csv_is_one_sentence_naming_it_and_scores_nothing(tmp_path, kind, words) -> None:
    """pandas' EmptyDataError or UnicodeDecodeError, a KeyError, or nan% in the report: now one sentence with what to do."""
    from dasag.core.errors import ConfigError

    (tmp_path / "images").mkdir()
    for h in ("h1", "h2"):
        _picture().save(tmp_path / "images" / f"{h}.png")
    table = pd.DataFrame({"file_hash": ["h1", "h2"], "class_name": ["goldfish", "daisy"]})
    edits.edit_scores(tmp_path, table, lambda pixels, name: (1, 0.5), write_atomic)
    path = tmp_path / "edits.csv"
    path.write_bytes(damaged := _damaged_edits(path.read_bytes(), kind))
    expected = f"{str(path)!r} {words}: delete it and run again (its scores are made again from the images; nothing else is lost)."
    with pytest.raises(ConfigError) as caught:
        edits.read_edits(path)
    assert str(caught.value) == expected
    calls = []
    with pytest.raises(ConfigError, match="edits.csv"):
        edits.edit_scores(tmp_path, table, lambda pixels, name: calls.append(name) or (1, 0.5), write_atomic)
    assert calls == [] and path.read_bytes() == damaged
