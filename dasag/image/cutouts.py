"""Cutouts: the scorer sees random square crops of a large image, each at the scorer's own size.

Scoring the whole visible image (:class:`~dasag.image.augment.Augmentations`) makes every copy a
full-size image: at 2048 px that is 8 copies of 12.6 M values, each then shrunk 5x by the
scorer, so a step's memory grows with the canvas and the finest detail the scorer could
judge is averaged away. CLIP-guided tools score *cutouts* instead: crops of many sizes, each
resampled to the model's input. Here a copy is a crop whose side is drawn log-uniformly
between ``min_fraction`` of the visible side and the whole of it, at a random position (moved
by the scheduled jitter into the margin like any copy), resampled straight to ``cut_size``.

How, and why that way:

* The crop and the resampling are one matrix per axis and copy (``A @ x @ B.T``, like
  :func:`~dasag.image.augment.zoom_matrices`): deterministic on every device with a backward of two
  more products, where ``F.grid_sample`` is not deterministic on CUDA. Each row of ``A`` is
  the triangle filter that ``F.interpolate(mode="bilinear", antialias=True)`` uses, placed over
  the crop window, so a crop of the whole image is exactly that resize.
* Nothing full-size is made per copy. The canvas is first box-filtered once per step by
  ``2**L`` (a view and a mean), ``L`` chosen so the smallest crop is still at least ``cut_size``
  px at that level; every copy then reads that level only. The one per-copy intermediate,
  ``A @ level``, is ``cut_size`` x (the level's side) <= ``2 * cut_size / min_fraction`` x
  (canvas / visible) px: a bounded multiple of ``cut_size**2``, whatever the canvas. Noise,
  colour, flip and rotation then act on ``cut_size``-sized copies only.
* Every random number comes from the step's generator (seed, step), on the canvas's device,
  so a resumed run draws the same crops, and the step never reads a value back to the host.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from dasag.core.ranges import CUT_FRACTION, CUT_SIZE
from dasag.image.augment import Augmentations, Draws, Strengths, rotate_shift_and_noise


@dataclass(frozen=True)
class CutoutDraws(Draws):
    """One step's random numbers for cutouts: :class:`~dasag.image.augment.Draws` plus each copy's crop."""

    #: (N, 3) float: each copy's crop as (top, left, side) in visible px (side within [min_fraction * V, V]).
    boxes: Tensor | None = None
    #: The step's jitter strength in px (a host integer): how far into the margin a crop may reach.
    reach: int = 0


def crop_matrices(starts: Tensor, sides: Tensor, out_size: int, in_size: int) -> Tensor:
    """(N, out_size, in_size) matrices: row i of matrix n is the triangle filter that samples
    output pixel i of the window [starts[n], starts[n] + sides[n]) of an axis of ``in_size`` px.

    The filter is the one of ``F.interpolate(mode="bilinear", align_corners=False,
    antialias=True)``: a triangle of half-width ``max(1, side / out_size)`` source px around
    the output pixel's centre, normalised per row (which also clamps at the axis's ends), so
    the window of the whole axis gives exactly that resize. Built by broadcast arithmetic on
    ``starts``' device: no scatter, no host values, deterministic everywhere.
    """
    dev = starts.device
    scale = sides.float() / out_size  # source px per output px
    support = scale.clamp(min=1.0)
    centres = starts.float()[:, None] + (torch.arange(out_size, device=dev, dtype=torch.float32)[None, :] + 0.5) * scale[:, None]
    pixels = torch.arange(in_size, device=dev, dtype=torch.float32) + 0.5
    weights = (1 - (pixels[None, None, :] - centres[:, :, None]).abs() / support[:, None, None]).clamp(min=0)
    return weights / weights.sum(dim=-1, keepdim=True)


def mip_level(smallest_crop: float, cut_size: int) -> int:
    """The box-filter level L (the canvas shrunk by ``2**L``) that cutouts read: the coarsest at
    which the smallest crop still has at least ``cut_size`` px, so no copy is enlarged by it."""
    return max(0, int(math.floor(math.log2(smallest_crop / cut_size)))) if smallest_crop > cut_size else 0


def box_shrink(canvas: Tensor, factor: int) -> Tensor:
    """(I, C, S, S) -> (I, C, S/factor, S/factor): the mean of each ``factor`` x ``factor`` block
    (a view and a mean: one pass over the canvas, deterministic, and its backward a broadcast)."""
    if factor == 1:
        return canvas
    i, c, s, _ = canvas.shape
    return canvas.view(i, c, s // factor, factor, s // factor, factor).mean(dim=(3, 5))


def cutouts(canvas: Tensor, margin: int, boxes: Tensor, shifts: Tensor, reach: int, cut_size: int, min_fraction: float,
            flips: Tensor | None = None) -> Tensor:
    """(I, C, S, S) canvas -> (I * copies, C, cut_size, cut_size) crops, image-major.

    Copy n is the window ``boxes[n]`` = (top, left, side) of the visible image (the canvas
    without ``margin``), moved by ``-shifts[n]`` (its jitter, at most ``reach`` px, so it may
    reach into the margin), resampled to ``cut_size`` px and mirrored left to right where
    ``flips[n]`` is set. ``min_fraction`` (the smallest crop a draw can give, as a fraction of
    the visible side) fixes the box-filter level every copy reads, so shapes depend on the
    settings and ``reach`` only, never on the draws.
    """
    n_img, c, s, _ = canvas.shape
    n = boxes.shape[0]
    copies = n // n_img
    v = s - 2 * margin
    factor = 2 ** mip_level(min_fraction * v, cut_size)
    level = box_shrink(canvas, factor)
    # Only the rows and columns a crop can reach this step (the visible image plus the jitter) are read.
    first = (margin - reach) // factor
    last = -(-(s - margin + reach) // factor)
    region = level[..., first:last, first:last]
    r = last - first
    origin = margin - shifts.float()  # (N, 2): where the visible image's corner lies for this copy, in canvas px
    tops = (origin[:, 0] + boxes[:, 0]) / factor - first
    lefts = (origin[:, 1] + boxes[:, 1]) / factor - first
    sides = boxes[:, 2] / factor
    rows = crop_matrices(tops, sides, cut_size, r).to(canvas.dtype)  # (N, cut, R)
    cols = crop_matrices(lefts, sides, cut_size, r).to(canvas.dtype)
    if flips is not None:
        cols = torch.where(flips[:, None, None], cols.flip(1), cols)
    # Rows first, every copy of an image in one product with that image: (I, 1, copies*cut, R) @ (I, C, R, R).
    tall = rows.view(n_img, 1, copies * cut_size, r) @ region  # (I, C, copies*cut, R)
    tall = tall.view(n_img, c, copies, cut_size, r).transpose(1, 2)  # (I, copies, C, cut, R)
    out = tall @ cols.view(n_img, copies, 1, cut_size, r).transpose(-1, -2)  # (I, copies, C, cut, cut)
    return out.reshape(n, c, cut_size, cut_size).contiguous(memory_format=torch.channels_last)


class Cutouts(Augmentations):
    """Augmented copies that are random square crops of the visible image at ``cut_size`` px.

    Choose it in a config with ``class_path: dasag.Cutouts``. Colour shift, noise,
    flip and rotation act on each crop as :class:`~dasag.image.augment.Augmentations` does on whole
    copies; the crop's random size and position take the place of its zoom, and jitter moves
    each crop into the margin as it moves a whole copy.
    """

    def __init__(self, cut_size: int = 224, min_fraction: float = 0.5, flip_enabled: bool = True, **augmentations: Any) -> None:
        """
        Args:
            cut_size: side in px every crop is resampled to; set it to the scorer's input side
                (224 for EfficientNet-Lite0, 384 for SigLIP so400m-384) so the scorer does not
                resample again.
            min_fraction: the smallest crop's side as a fraction of the visible side, in (0, 1];
                sides are log-uniform between it and the whole image. Smaller crops let the
                scorer judge finer detail, but each sees less of the picture.
            flip_enabled: mirror crops left to right (on by default here: a mirrored view of a
                part of the picture is as good a view).
            augmentations: every other setting of :class:`~dasag.image.augment.Augmentations`
                (``batch_size`` crops per image per step, jitter, colour shift, noise, flip,
                rotation); a crop's random size and position take the place of its zoom.
        """
        CUT_SIZE.check(cut_size, "cutouts cut_size", "px: the scorer's input side, e.g. 224 or 384")
        CUT_FRACTION.check(min_fraction, "cutouts min_fraction", "the smallest crop's share of the visible side")
        defaults = inspect.signature(Augmentations.__init__).parameters
        for name in ("zoom", "zoom_enabled", "single_copy_when_off"):  # a parser hands every parent argument, at its default
            if name in augmentations and augmentations.pop(name) != defaults[name].default:
                raise ValueError(f"cutouts take no {name}: each crop's random size and position take the place of a zoom, and every crop differs.")
        for name in ("shrink", "shrink_enabled", "jpeg_quality", "jpeg_enabled"):
            if name in augmentations and augmentations.pop(name) != defaults[name].default:
                raise ValueError(f"cutouts take no {name}: the everyday edits act on whole copies (dasag.Augmentations), not on crops.")
        super().__init__(flip_enabled=flip_enabled, single_copy_when_off=False, **augmentations)
        self.cut_size = cut_size
        self.min_fraction = float(min_fraction)

    @property
    def copies(self) -> int:
        """Always ``batch_size``: every crop is drawn at random, so no two copies are the same."""
        return self.batch_size

    def draw(
        self, num_images: int, visible: int, strengths: Strengths, generator: torch.Generator, device: torch.device | str,
        dtype: torch.dtype = torch.float32,
    ) -> CutoutDraws:
        """Every random number of one step: the crops (side, then top and left), then the
        jitter shifts, colour scale and offset, noise at ``cut_size``, flips and angles.
        That order is part of the reproducibility contract."""
        n = num_images * self.copies
        u = torch.rand(n, 3, generator=generator, device=device)
        sides = visible * torch.exp(u[:, 0] * math.log(self.min_fraction))  # log-uniform in [min_fraction * V, V]
        boxes = torch.stack([u[:, 1] * (visible - sides), u[:, 2] * (visible - sides), sides], dim=1)
        j = strengths.jitter
        if j > 0:
            shifts = torch.randint(-j, j + 1, (n, 2), generator=generator, device=device)
        else:
            shifts = torch.zeros(n, 2, dtype=torch.long, device=device)
        scale = offset = noise = flips = angles = None
        s = strengths.color_shift
        if s > 0:
            scale = torch.empty(n, 3, 1, 1, device=device).uniform_(-s, s, generator=generator).exp().to(dtype)
            offset = torch.empty(n, 3, 1, 1, device=device).uniform_(-s, s, generator=generator).to(dtype)
        if strengths.noise > 0:
            noise = strengths.noise * torch.randn((n, 3, self.cut_size, self.cut_size), generator=generator, device=device, dtype=dtype)
        if strengths.flip > 0:
            flips = torch.rand(n, generator=generator, device=device) < strengths.flip
        if strengths.rotation > 0:
            angles = torch.empty(n, device=device).uniform_(-strengths.rotation, strengths.rotation, generator=generator)
        return CutoutDraws(shifts, scale, offset, noise, None, flips, angles, boxes=boxes, reach=j)

    def apply(self, canvas: Tensor, margin: int, draws: Draws) -> Tensor:
        """(I, 3, S, S) canvas -> (I*copies, 3, cut_size, cut_size) crops, image-major order."""
        if not isinstance(draws, CutoutDraws) or draws.boxes is None:
            raise TypeError("Cutouts.apply needs the CutoutDraws of Cutouts.draw (each copy's crop box).")
        x = cutouts(canvas, margin, draws.boxes, draws.shifts, draws.reach, self.cut_size, self.min_fraction, draws.flips)
        return rotate_shift_and_noise(x, draws)

    def __repr__(self) -> str:
        return (
            f"Cutouts(cut_size={self.cut_size}, min_fraction={self.min_fraction}, batch_size={self.batch_size}, jitter={self.jitter}, "
            f"color_shift={self.color_shift}, noise={self.noise}, enabled=(jitter={self.jitter_enabled}, color={self.color_shift_enabled}, "
            f"noise={self.noise_enabled}), flip={self.flip} ({'on' if self.flip_enabled else 'off'}), "
            f"rotation={self.rotation} ({'on' if self.rotation_enabled else 'off'}))"
        )
