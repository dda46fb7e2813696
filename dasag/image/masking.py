"""Inpainting: a pyramid whose render changes only inside a mask.

``MaskedPyramid`` starts from an image and blends its render with that image,

    canvas = m * render(levels) + (1 - m) * original,

so outside the mask (m = 0) the output *is* the original, exactly, whatever the optimiser
does to the levels, and gradients reach the levels only through the masked region. The
mask is a white-on-black image file (white = may change) or a box in fractions of the
visible image. Feathering softens the mask's inner edge only, so the region outside the
mask stays untouched.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from dasag.image.colour import ColourBasis
from dasag.image.picture import image_size, load_image, load_mask
from dasag.image.pyramid import ImagePyramid
from dasag.image.resize import resize


def box_mask(box: list[float], size: int) -> Tensor:
    """(size, size) mask, 1 inside ``[x0, y0, x1, y1]`` given as fractions of the side."""
    if len(box) != 4 or not all(0.0 <= float(v) <= 1.0 for v in box):
        raise ValueError(f"mask box must be [x0, y0, x1, y1], each a fraction in [0, 1]; got {list(box)}.")
    x0, y0, x1, y1 = (round(float(v) * size) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"mask box must have x0 < x1 and y0 < y1 (and cover at least a pixel at {size} px); got {list(box)}.")
    mask = torch.zeros(size, size)
    mask[y0:y1, x0:x1] = 1.0
    return mask


def file_mask(path: str, size: int) -> Tensor:
    """(size, size) mask from an image file: white (>= 50 % grey) may change, black stays."""
    gray = load_mask(path)[None, None]
    gray = resize(gray, size, "bilinear").squeeze(0).squeeze(0)
    return (gray >= 0.5).float()


def check_mask_fits(mask: str, init_image: str) -> None:
    """A mask file must have its image's width:height ratio: both are centre-cropped to a square
    and resized, so a mask of another shape would land on other pixels than the ones painted.
    Any size with the same ratio (to a pixel's rounding) is allowed: a half-size mask works."""
    mw, mh = image_size(mask)
    iw, ih = image_size(init_image)
    if abs(mw * ih - mh * iw) > max(mw, mh, iw, ih):  # ratios equal up to one pixel of rounding
        raise ValueError(
            f"mask {mask!r} is {mw}x{mh} px but init_image {init_image!r} is {iw}x{ih} px; allowed: a mask with the image's "
            f"width:height ratio (same size, or scaled), since both are centre-cropped and resized alike."
        )


def feather_inside(mask: Tensor, radius: int) -> Tensor:
    """Soften the mask's edge by a box blur of ``radius`` px, only inside the mask."""
    if radius == 0:
        return mask
    k = 2 * radius + 1
    blurred = F.avg_pool2d(F.pad(mask[None, None], (radius,) * 4, mode="replicate"), k, stride=1)[0, 0]
    return blurred * mask  # never positive where the hard mask is 0


def _check_masked_args(init_image: str, mask: str | None, box: list[float] | None, feather: int, fill: str) -> None:
    """Refuse a MaskedPyramid's own arguments before the pyramid underneath is allocated."""
    if (mask is None) == (box is None):
        raise ValueError(f"MaskedPyramid needs exactly one of mask (an image file) or box ([x0, y0, x1, y1]); got mask={mask!r}, box={box!r}.")
    if feather < 0:
        raise ValueError(f"MaskedPyramid feather must be a non-negative number of px; got {feather}.")
    if fill not in ("image", "noise"):
        raise ValueError(f"MaskedPyramid fill must be 'image' or 'noise'; got {fill!r}.")
    if mask is not None:
        check_mask_fits(mask, init_image)  # before anything is allocated


def _region(mask: str | None, box: list[float] | None, invert: bool, feather: int, size: int) -> Tensor:
    """The (size, size) region that may change, from the mask file or the box, inverted and feathered as asked."""
    region = box_mask(box, size) if box is not None else file_mask(mask, size)
    if invert:
        region = 1.0 - region
    if not bool(region.any()):
        raise ValueError(f"MaskedPyramid mask {mask or box!r} selects no pixel (white = may change); nothing could change.")
    return feather_inside(region, feather)


class MaskedPyramid(ImagePyramid):
    """An image pyramid that may change only inside a mask; the rest is the init image."""

    def __init__(
        self,
        init_image: str,
        mask: str | None = None,
        box: list[float] | None = None,
        invert: bool = False,
        feather: int = 0,
        fill: Literal["image", "noise"] = "image",
        max_size: int = 512,
        max_shift: int = 64,
        num_images: int = 1,
        interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear",
        min_size: int = 1,
        level_step: int | None = None,
        colour: ColourBasis = "rgb",
        level_weights: Literal["uniform", "per_octave"] = "uniform",
        contrast: float | None = None,
        level_gains: list[float] | None = None,
    ) -> None:
        """
        Args:
            init_image: the image to edit; outside the mask the output is exactly this image.
            mask: white-on-black image file, white = the region that may change.
            box: instead of ``mask``: ``[x0, y0, x1, y1]`` in fractions of the visible image.
            invert: change the black region instead of the white one.
            feather: soften the mask's inner edge over this many px (0: hard edge).
            fill: what the masked region starts from: the image (edit it) or noise (replace it).
            max_size / max_shift / num_images / interpolation / min_size / level_step / colour / level_weights /
                contrast / level_gains: as :class:`ImagePyramid`.
        """
        _check_masked_args(init_image, mask, box, feather, fill)
        super().__init__(max_size=max_size, max_shift=max_shift, num_images=num_images, interpolation=interpolation, min_size=min_size,
                         level_step=level_step, colour=colour, level_weights=level_weights, contrast=contrast,
                         level_gains=level_gains)
        region = _region(mask, box, invert, feather, self.visible_size)
        image = load_image(init_image, self.visible_size)
        self.init_image, self.mask_source, self.box, self.invert, self.fill = init_image, mask, box, invert, fill
        self._set_blend(image, region)
        if fill == "image":
            self.set_image(image)

    def _set_blend(self, image: Tensor, region: Tensor) -> None:
        """Register the original image and the mask at the canvas size, the two inputs of the blend."""
        v, m = self.visible_size, self.max_shift
        # Canvas-sized copies: the margin repeats the edge so jittered copies see the same blend.
        pad = (m, m, m, m)
        mode = "reflect" if 0 < m < v else "replicate"
        original = F.pad(image[None], pad, mode=mode) if m else image[None]
        canvas_mask = F.pad(region[None, None], pad, mode="replicate") if m else region[None, None]
        # Not persistent: both are rebuilt from the config, so checkpoints stay levels-only.
        self.register_buffer("original", original.clamp(-1, 1), persistent=False)
        self.register_buffer("mask", canvas_mask, persistent=False)

    def canvas(self) -> Tensor:
        rendered = super().canvas()
        return self.mask * rendered + (1 - self.mask) * self.original

    def visible_mask(self) -> Tensor:
        """The mask at the visible size, (1, 1, V, V): 1 where the image may change."""
        return self.crop(self.mask)
