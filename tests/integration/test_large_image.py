"""The committed large picture (docs/images/large_1024.png, made by examples/make_large_image.py) has no seams.

It was grown 256 -> 512 -> 1024 px (configs/large/cpu_1024.yaml), so a seam from growth would sit
on the borders of 2 px and 4 px blocks: the pixels of the 512 and 256 px stages, enlarged. Neighbour
differences across those borders are no larger than elsewhere, to within the pyramid's own grid:
its levels sit on power-of-two grids and bilinear upsampling bends at their pixel centres, which
gives any pyramid image a ratio of about 1.1 at every power-of-two period, growth or not (the
offline demo's 256 px image, made at one size, measures 1.11-1.12 at 2 to 64 px). A block seam,
e.g. the 512 px stage enlarged by nearest neighbour, measures above 3 (tests/test_growth.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dasag.growth.stages import block_border_ratio
from dasag.image.picture import read_metadata

PICTURE = Path(__file__).resolve().parents[2] / "docs" / "images" / "large_1024.png"


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    with Image.open(PICTURE) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("period", [2, 4])
def test_no_seam_on_the_borders_of_the_earlier_stages_pixels(picture: np.ndarray, period: int) -> None:
    assert picture.shape == (1024, 1024, 3)
    assert 0.9 < block_border_ratio(picture, period) < 1.15


def test_its_metadata_is_the_growth_run_that_made_it() -> None:
    meta = read_metadata(PICTURE)
    assert [s["size"] for s in meta["stages"]] == [256, 512, 1024]
    assert meta["config"]["model"]["augment"]["class_path"] == "dasag.Cutouts"
    assert meta["config"]["growth"] == meta["growth"] and meta["prompts"]["positive"] == ["goldfish"]
