"""Inpainting with MaskedPyramid: outside the mask the output is the original image."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
from PIL import Image

from dasag import Augmentations, DirectAscent
from dasag.image.masking import MaskedPyramid
from dasag.image.picture import load_image
from feature_helpers import REPO, SMALL, lite0, run


# ------------------------------------------------------------------- masking
@pytest.mark.slow
def test_masked_run_leaves_unmasked_region_unchanged(tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(init)
    L.seed_everything(0)
    pyramid = MaskedPyramid(str(init), box=[0.25, 0.25, 0.75, 0.75], fill="noise", **SMALL)
    original = load_image(init, pyramid.visible_size)
    model = DirectAscent(pyramid, lite0(), augment=Augmentations(batch_size=2), seed=0)
    run(model, 5, positive=["goldfish"], root=tmp_path)
    out = model.images()[0]
    keep = pyramid.visible_mask()[0, 0] == 0
    assert keep.float().mean() > 0.5
    assert (out - original).abs()[:, keep].max() < 1e-5
    assert (out - original).abs()[:, ~keep].mean() > 0.05  # the masked region did change


def test_masked_pyramid_rejects_bad_masks(tmp_path: Path) -> None:
    init = str(REPO / "dasag" / "configs" / "assets" / "images" / "portrait.png")
    with pytest.raises(ValueError, match="exactly one of mask"):
        MaskedPyramid(init, **SMALL)
    with pytest.raises(ValueError, match="x0 < x1"):
        MaskedPyramid(init, box=[0.5, 0.1, 0.2, 0.9], **SMALL)
    with pytest.raises(ValueError, match="selects no pixel"):
        MaskedPyramid(init, box=[0.0, 0.0, 1.0, 1.0], invert=True, **SMALL)


def test_a_mask_of_another_shape_than_its_image_is_one_sentence(tmp_path) -> None:
    from PIL import Image

    from dasag.image.masking import MaskedPyramid

    Image.new("RGB", (64, 48), (90, 120, 200)).save(tmp_path / "photo.png")
    Image.new("L", (32, 32), 255).save(tmp_path / "square_mask.png")
    Image.new("L", (32, 24), 255).save(tmp_path / "half_mask.png")
    with pytest.raises(ValueError, match=r"mask .*square_mask.png' is 32x32 px but init_image .*photo.png' is 64x48 px; allowed: a mask with"):
        MaskedPyramid(str(tmp_path / "photo.png"), mask=str(tmp_path / "square_mask.png"), max_size=32, max_shift=4)
    pyramid = MaskedPyramid(str(tmp_path / "photo.png"), mask=str(tmp_path / "half_mask.png"), max_size=32, max_shift=4)
    assert bool(pyramid.visible_mask().all())  # a scaled mask with the same ratio is fine
