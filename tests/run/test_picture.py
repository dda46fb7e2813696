"""The one path from a finished run to a saved picture: 8-bit images, scores on those pixels, metadata, PNG bytes, sheet and files."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dasag.core.errors import ConfigError
from dasag.image.picture import from_uint8, to_uint8
from dasag.image.pyramid import ImagePyramid
from dasag.run.data import PromptSet
from dasag.run.metadata import picture_metadata
from dasag.run.module import DirectAscent
from dasag.run.picture import Picture, finished_picture
from dasag.scorers import EfficientNetLite
from tiny_models import ready

GOLDFISH = PromptSet(("goldfish",), ())
RUN_CONFIG = {"seed_everything": 0, "trainer": {"max_steps": 10}}


@pytest.fixture(scope="module")
def tiny_run() -> DirectAscent:
    """Two images on a 64 px canvas (48 px visible) scored by Lite0 at 64 px, as tiny_models.lite_module builds one."""
    torch.manual_seed(0)
    model = DirectAscent(pyramid=ImagePyramid(max_size=64, max_shift=8, num_images=2), scorer=EfficientNetLite("lite0", input_size=64), seed=0)
    model.run_config = RUN_CONFIG
    return ready(model, GOLDFISH)


EXTRA = {"method": "pyramid", "sample": 3}


@pytest.fixture(scope="module")
def finished(tiny_run) -> Picture:
    """The tiny run's picture at step 7 with a suite's extra values (made once: every scorer pass costs seconds on a shared CPU)."""
    return finished_picture(tiny_run, step=7, extra=EXTRA)


def pictures(n: int, side: int = 8, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(n)]


def decoded(png: bytes) -> tuple[np.ndarray, dict]:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB")), json.loads(image.text["dasag"])


def test_a_finished_picture_is_the_runs_images_in_8_bit(tiny_run, finished):
    picture = finished
    images = tiny_run.images()
    assert len(picture.images) == images.shape[0] == 2
    for array, image in zip(picture.images, images):
        assert array.dtype == np.uint8 and array.shape == (image.shape[1], image.shape[2], 3)
        expected = ((image.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.uint8)  # nearest 8-bit level
        assert np.array_equal(array, expected)


def test_its_scores_are_taken_on_the_8_bit_pixels(tiny_run, finished):
    picture = finished
    quantised = torch.stack([from_uint8(to_uint8(image)) for image in tiny_run.images()])
    expected = tiny_run.evaluate(quantised)
    assert [set(s) for s in picture.scores] == [set(e) for e in expected] and "lite0/positive" in picture.scores[0]
    for got, want in zip(picture.scores, expected):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6)


def test_its_metadata_is_picture_metadata_with_the_extra_values(tiny_run, finished):
    picture = finished
    assert picture.metadata == picture_metadata(tiny_run, 7, picture.scores, EXTRA)
    assert picture.metadata["method"] == "pyramid" and picture.metadata["sample"] == 3
    assert picture.metadata["step"] == 7 and picture.metadata["config"] == RUN_CONFIG and picture.metadata["seed"] == 0
    assert picture.metadata["scores"] == picture.scores  # two images: a list, one dict each
    assert picture.metadata["prompts"]["positive"] == ["goldfish"]


def test_the_png_round_trips_through_pil_with_the_metadata_chunk():
    metadata = {"seed": 3, "step": 9, "scores": {"lite0/positive": -1.5}, "config": {"trainer": {"max_steps": 9}}}
    [image] = pictures(1, side=12)
    picture = Picture([image], [metadata["scores"]], metadata)
    assert picture.sheet is image  # one image: the file holds it as it is
    pixels, recorded = decoded(picture.png())
    assert np.array_equal(pixels, image) and recorded == metadata
    assert picture.png() == picture.png()  # no timestamps: the bytes depend on the pictures alone


def test_several_images_make_a_grid_sheet_with_white_padding():
    images = pictures(3, side=8)
    sheet = Picture(images, [{}, {}, {}], {}).sheet
    cols, rows, pad, side = 2, 2, 2, 8  # ceil(sqrt(3)) columns
    assert sheet.dtype == np.uint8 and sheet.shape == (rows * (side + pad) + pad, cols * (side + pad) + pad, 3)
    covered = np.zeros(sheet.shape[:2], bool)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (side + pad), pad + c * (side + pad)
        assert np.array_equal(sheet[y : y + side, x : x + side], image)
        covered[y : y + side, x : x + side] = True
    assert (sheet[~covered] == 255).all()  # padding and the empty fourth cell are white


def test_write_saves_the_sheet_and_each_image_with_its_own_scores(tmp_path):
    images = pictures(3)
    scores = [{"lite0/positive": float(-i)} for i in range(3)]
    picture = Picture(images, scores, {"seed": 1, "scores": scores})
    path = tmp_path / "out" / "final.png"
    written = picture.write(path)
    assert written == [path, *(tmp_path / "out" / f"final_{i:02d}.png" for i in range(3))]
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(p.name for p in written)  # no temp file left behind
    assert path.read_bytes() == picture.png()
    for i, file in enumerate(written[1:]):
        pixels, recorded = decoded(file.read_bytes())
        assert np.array_equal(pixels, images[i])
        assert recorded["scores"] == scores[i] and recorded["image_index"] == i and recorded["seed"] == 1


def test_one_image_writes_one_file(tmp_path):
    picture = Picture(pictures(1), [{}], {"seed": 0})
    assert picture.write(tmp_path / "final.png") == [tmp_path / "final.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["final.png"]


def test_a_write_that_fails_leaves_the_file_before_it_whole(tmp_path, monkeypatch):
    path = tmp_path / "final.png"
    Picture(pictures(1, seed=1), [{}], {"seed": 1}).write(path)
    before = path.read_bytes()

    def broken(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk went away"):
        Picture(pictures(1, seed=2), [{}], {"seed": 2}).write(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["final.png"]


@pytest.mark.parametrize(("name", "words"), [("final.jpg", "a picture is written as PNG (with its metadata); name a .png file; got '"),
                                            ("final", "name a .png file"), ("sub", "is a folder; name a .png file"),
                                            ("final_01.png", "final_01_01.png' is a folder")])
def test_a_name_that_cannot_hold_the_picture_is_one_sentence_and_writes_nothing(name, words, tmp_path):
    """A folder was IsADirectoryError after the sheet was written; a .jpg name held PNG bytes."""
    (tmp_path / "sub.png").mkdir()
    (tmp_path / "final_01_01.png").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    picture = Picture(pictures(2), [{}, {}], {"seed": 0})
    with pytest.raises(ConfigError, match=re.escape(words)):
        picture.write(tmp_path / (name + ".png" if name == "sub" else name))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_folder_that_may_not_be_written_is_one_sentence(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)  # as a user without write permission sees it (root writes anywhere)
    with pytest.raises(ConfigError, match="the picture's folder .*locked' is not writable"):
        Picture(pictures(1), [{}], {}).write(locked / "final.png")


@pytest.mark.parametrize("path", [None, 3, ""])
def test_a_path_that_is_not_a_name_is_one_sentence(path):
    with pytest.raises(ConfigError, match="a picture is written to a .png file; got"):
        Picture(pictures(1), [{}], {}).write(path)


def test_an_image_index_out_of_range_is_one_sentence():
    with pytest.raises(ConfigError, match=r"index must be a whole number from 0 to 1 \(the picture has 2 image\(s\)\); got 2"):
        Picture(pictures(2), [{}, {}], {}).image_png(2)
