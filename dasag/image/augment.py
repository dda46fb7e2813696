"""Batched augmentations: every copy gets its own jitter, colour shift and noise.

No per-sample Python loop: jitter is one gather of per-copy crop windows, colour shift and
noise are broadcast arithmetic. Randomness comes from a generator seeded by (seed, step),
so a step's augmentations depend on nothing but the run's seed and the step number: a run
resumed from a checkpoint draws exactly what an uninterrupted run would.

Two augmentations are the everyday edits a picture meets once it is shared, so that the ascent
rewards only what survives them (expectation over transformation, Athalye et al., ICML 2018):
``shrink`` (each copy halved, or more, and enlarged back: the fine detail a thumbnail loses) and
``jpeg_quality`` (each copy through a JPEG round trip whose rounding passes the gradient straight
through: :func:`jpeg_like`). Both are off by default.

A step is two parts: :meth:`Augmentations.draw` (every random number, from the scheduled
strengths) and :meth:`Augmentations.apply` (pure tensor arithmetic on the canvas). Only
``apply`` is compiled (``compile: render``): a seeded ``torch.Generator`` breaks a dynamo
graph, and the jitter strength is a Python int that changes while it anneals, which would
recompile the graph at nearly every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from dasag.core.ranges import COPIES
from dasag.core.schedules import ExponentialWarmup, Schedule, as_schedule
from dasag.image.resize import resize_matrix


@dataclass(frozen=True)
class Draws:
    """One step's random numbers: per-copy shifts, colour scale/offset and noise (``None``: off)."""

    shifts: Tensor  # (N, 2) integer, in [-jitter, jitter]
    scale: Tensor | None = None  # (N, 3, 1, 1), exp(U[-s, s])
    offset: Tensor | None = None  # (N, 3, 1, 1), U[-s, s]
    noise: Tensor | None = None  # (N, 3, V, V), already multiplied by the noise strength
    zooms: Tensor | None = None  # (N,), each copy's magnification, log-uniform in [1/(1+z), 1+z]
    flips: Tensor | None = None  # (N,) bool, mirror the copy left to right
    angles: Tensor | None = None  # (N,), each copy's rotation in degrees, uniform in [-r, r]
    shrinks: Tensor | None = None  # (N,) integer, each copy's level of ``shrink_bank``
    shrink_bank: Tensor | None = None  # (levels, V, V), the round-trip matrices of the step's strength (:func:`shrink_bank`)
    qualities: Tensor | None = None  # (N,), each copy's JPEG quality, uniform in [q, 100]


@dataclass(frozen=True)
class Strengths:
    """The augmentation strengths in force at one step."""

    jitter: int
    color_shift: float
    noise: float
    zoom: float = 0.0
    flip: float = 0.0
    rotation: float = 0.0
    shrink: float = 0.0
    jpeg_quality: float = 0.0  # the lowest quality drawn; 0: off


def step_generator(seed: int, step: int, device: torch.device | str) -> torch.Generator:
    """A fresh generator for one step; mixing seed and step keeps runs with nearby seeds apart."""
    g = torch.Generator(device=device)
    g.manual_seed((int(seed) * 1_000_003 + int(step) * 7_919 + 0x5DEECE66D) % (2**63 - 1))
    return g


def jitter_crop(canvas: Tensor, margin: int, shifts: Tensor, copies: int = 1) -> Tensor:
    """Crop the visible window of each copy, moved by its own (dy, dx) in [-margin, margin].

    Equivalent to repeating each image ``copies`` times, rolling copy ``k`` by ``shifts[k]``
    and cropping the margin, but done as one ``index_select`` on the un-repeated canvas, with
    no wrap-around (the margin absorbs the shift). Why this form: its backward is one
    ``index_add`` into a canvas-sized gradient, several times faster on CPU than the backward
    of a multi-tensor ``canvas[b, rows, cols]`` gather (an ``index_put`` with accumulation)
    followed by a sum over the repeated copies, and deterministic on CUDA too. ``canvas``
    (I, C, S, S), ``shifts`` (I*copies, 2) integer, image-major (copy ``k`` comes from image
    ``k // copies``); returns (I*copies, C, V, V) with V = S - 2*margin, in channels-last
    memory format: convolutional scorers run fastest on it (about 1.2x for EfficientNet-Lite
    on CPU), ViT patch embeddings do not mind, and the layout change costs one copy here.
    With ``margin == 0`` there is nothing to crop and the copies keep the canvas's layout.
    """
    n_img, c, s, _ = canvas.shape
    n = n_img * copies
    if shifts.shape != (n, 2):
        raise ValueError(f"jitter_crop needs one (dy, dx) per copy, shape ({n}, 2); got {tuple(shifts.shape)}.")
    v = s - 2 * margin
    if margin == 0:  # no `shifts.any()` shortcut: reading it back would stall a GPU every step
        return canvas.repeat_interleave(copies, dim=0) if copies > 1 else canvas
    dev = canvas.device
    base = torch.arange(v, device=dev)
    rows = (margin - shifts[:, 0:1]) + base  # (n, V)
    cols = (margin - shifts[:, 1:2]) + base
    image = torch.div(torch.arange(n, device=dev), copies, rounding_mode="floor")
    flat_index = ((image[:, None, None] * s + rows[:, :, None]) * s + cols[:, None, :]).reshape(-1)
    pixels = canvas.transpose(0, 1).reshape(c, n_img * s * s)  # (C, I*S*S): one column per pixel
    out = pixels.index_select(1, flat_index).view(c, n, v, v)
    return out.transpose(0, 1).contiguous(memory_format=torch.channels_last)


def zoom_matrices(zooms: Tensor, size: int) -> Tensor:
    """(N, V, V) bilinear resampling matrices, one per copy: row i of matrix n samples the input
    at the centre plus (i - centre) / zoom_n, so zoom > 1 enlarges and zoom < 1 shrinks about
    the centre; samples past an edge are reflected back inside (no black borders).

    As a matrix product (``A @ x @ A.T``) the warp is deterministic on every device and its
    backward is two more products, like :mod:`dasag.image.resize`; ``F.grid_sample`` is not
    deterministic on CUDA.
    """
    n = zooms.shape[0]
    dev = zooms.device
    centre = (size - 1) / 2
    pos = centre + (torch.arange(size, device=dev, dtype=torch.float32)[None, :] - centre) / zooms.float()[:, None]  # (N, V)
    low = pos.floor()
    frac = pos - low
    out = torch.zeros(n, size, size, device=dev, dtype=torch.float32)
    for index, weight in ((low, 1 - frac), (low + 1, frac)):  # one-hot sums, not scatter_add: deterministic on CUDA
        out = out + torch.nn.functional.one_hot(_reflect(index.long(), size), size).float() * weight.unsqueeze(-1)
    return out


def _reflect(index: Tensor, size: int) -> Tensor:
    """Indices reflected into [0, size - 1] (edge pixel not repeated), any distance outside."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def zoom_and_flip(x: Tensor, zooms: Tensor | None, flips: Tensor | None, shrink: Tensor | None = None) -> Tensor:
    """Each copy of (N, C, V, V) magnified by its zoom about the centre, where its flip is set
    mirrored left to right, and then, with ``shrink`` (N, V, V), reduced and enlarged back:
    ``A @ x @ B.T`` with B the row-reversed A for flipped copies, each left multiplied by the
    copy's round-trip matrix, so the three still cost two products per copy."""
    n, _, v, _ = x.shape
    a = zoom_matrices(zooms if zooms is not None else torch.ones(n, device=x.device), v).to(x.dtype)
    b = torch.where(flips[:, None, None], a.flip(1), a) if flips is not None else a
    if shrink is not None:
        r = shrink.to(x.dtype)
        a, b = r @ a, r @ b
    return (a[:, None] @ x @ b.transpose(1, 2)[:, None]).contiguous(memory_format=torch.channels_last)


#: Reduction factors come in quarter octaves: level k reduces by 2^(k/4), from 1 (untouched) up to 1 + shrink.
SHRINK_LEVELS_PER_OCTAVE = 4


def round_trip_matrix(size: int, side: int) -> Tensor:
    """(size, size): an axis of ``size`` px reduced to ``side`` px (bicubic, antialiased) and enlarged
    back (bicubic), like the everyday edit (:mod:`dasag.quality.edits`); the identity when ``side >= size``."""
    if side >= size:
        return torch.eye(size)
    return resize_matrix(side, size, "bicubic") @ resize_matrix(size, side, "bicubic", antialias=True)


def shrink_levels(shrink: float) -> int:
    """How many levels a strength allows: 2^(k/4) <= 1 + shrink for k = 0 .. levels - 1."""
    return int(math.floor(SHRINK_LEVELS_PER_OCTAVE * math.log2(1 + shrink) + 1e-9)) + 1


def shrink_bank(size: int, levels: int) -> Tensor:
    """(levels, size, size) on the CPU: level k reduces an axis to ``size / 2^(k/4)`` px (at least 8)
    and enlarges it back. A function of the side and the number of levels only (a scheduled
    strength reuses it), never of a draw: choosing a copy's level is an index on the device, and
    nothing is read back to the host."""
    factors = [2 ** (k / SHRINK_LEVELS_PER_OCTAVE) for k in range(levels)]
    return torch.stack([round_trip_matrix(size, max(8, round(size / f))) for f in factors])


@lru_cache(maxsize=8)
def shrink_bank_on(size: int, levels: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """:func:`shrink_bank` on ``device`` as ``dtype``, copied there once: every step reuses it (copied in
    each step's draw it was a host-to-device transfer inside the step)."""
    return shrink_bank(size, levels).to(device=device, dtype=dtype)


#: JPEG's example quantisation tables (ITU-T T.81, Annex K) for luminance and chrominance, at quality 50.
_JPEG_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61), (12, 12, 14, 19, 26, 58, 60, 55), (14, 13, 16, 24, 40, 57, 69, 56), (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77), (24, 35, 55, 64, 81, 104, 113, 92), (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_JPEG_CHROMA = (
    (17, 18, 24, 47, 99, 99, 99, 99), (18, 21, 26, 66, 99, 99, 99, 99), (24, 26, 56, 99, 99, 99, 99, 99), (47, 66, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99), (99, 99, 99, 99, 99, 99, 99, 99), (99, 99, 99, 99, 99, 99, 99, 99), (99, 99, 99, 99, 99, 99, 99, 99),
)
#: RGB (0-255) -> Y, Cb, Cr as JPEG (JFIF) defines them; Cb and Cr are offset by 128.
_YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


@lru_cache(maxsize=8)
def _jpeg_constants(device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """float32 on ``device``, made once per device: the RGB -> YCbCr matrix, its inverse, the orthonormal
    8-point DCT-II (``D @ block @ D.T`` are a block's JPEG coefficients) and the two example tables.
    Computed on the CPU, so every device uses the same values; made inside every step they were
    host-to-device copies there, and the inverse a sync on a GPU (``dasag bench`` counts them)."""
    m = torch.tensor(_YCBCR, dtype=torch.float32)
    k = torch.arange(8, dtype=torch.float64)[:, None]
    n = torch.arange(8, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * n + 1) * k / 16) * torch.where(k == 0, math.sqrt(1 / 8), math.sqrt(2 / 8))
    made = (m, torch.linalg.inv(m), d.float(), torch.tensor(_JPEG_LUMA, dtype=torch.float32), torch.tensor(_JPEG_CHROMA, dtype=torch.float32))
    return tuple(c.to(device) for c in made)


def jpeg_tables(qualities: Tensor) -> tuple[Tensor, Tensor]:
    """(N,) qualities in [1, 100] -> the (N, 8, 8) luminance and chrominance quantisation steps,
    scaled as the IJG encoder (libjpeg, Pillow) scales the example tables."""
    q = qualities.float().clamp(1, 100)[:, None, None]
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    *_, luma, chroma = _jpeg_constants(q.device)
    return (((luma * scale + 50) / 100).floor().clamp_min(1), ((chroma * scale + 50) / 100).floor().clamp_min(1))


def _quantise_blocks(plane: Tensor, steps: Tensor) -> Tensor:
    """(N, H, H) with H a multiple of 8, level-shifted -> each 8 x 8 block's DCT rounded to
    multiples of its copy's ``steps`` (N, 8, 8) and transformed back. The rounding passes the
    gradient straight through (BPDA, Athalye et al. 2018): the forward pass is JPEG's loss, the
    backward pass that of the identity, so the guide scores what JPEG leaves and its gradient still
    reaches every pixel. The 8-point transforms act on the blocks' axes in place (two small
    products per axis: 32 multiply-adds per pixel, not a dense matrix over the whole side)."""
    n, side, _ = plane.shape
    d = _jpeg_constants(plane.device)[2].to(plane.dtype)
    blocks = plane.reshape(n, side // 8, 8, side // 8, 8)  # (N, block row, y, block column, x)
    coefficients = torch.einsum("uy,naybx,vx->naubv", d, blocks, d)
    q = coefficients / steps[:, None, :, None, :]
    q = q + (q.round() - q).detach()
    return torch.einsum("uy,naubv,vx->naybx", d, q * steps[:, None, :, None, :], d).reshape(n, side, side)


def _double(x: Tensor, dim: int) -> Tensor:
    """``x`` twice as long along ``dim`` with libjpeg's "fancy" (triangle) upsampling, the edges
    repeated: output 2i is 3/4 of sample i and 1/4 of sample i - 1, output 2i + 1 3/4 of i and
    1/4 of i + 1 (bilinear resizing by 2, half-pixel centres), by slicing: no matrix, no scatter."""
    before = torch.cat([x.narrow(dim, 0, 1), x.narrow(dim, 0, x.shape[dim] - 1)], dim=dim)
    after = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), x.narrow(dim, x.shape[dim] - 1, 1)], dim=dim)
    pair = torch.stack([0.75 * x + 0.25 * before, 0.75 * x + 0.25 * after], dim=dim)  # dim counted from the end
    return pair.flatten(dim - 1, dim)


def jpeg_like(x: Tensor, qualities: Tensor) -> Tensor:
    """(N, 3, V, V) in [-1, 1] -> each copy as a JPEG round trip at its quality would leave it, with
    4:2:0 chroma (Pillow's default): Y, Cb, Cr; the chroma averaged over 2 x 2 px; every 8 x 8 block's
    DCT quantised by the scaled tables; back to RGB, the chroma enlarged with libjpeg's triangle filter (edges
    padded by repetition to a multiple of 16 px and cropped after). Differentiable (see
    :func:`_quantise_blocks`); all tensor arithmetic, deterministic on every device."""
    n, _, v, _ = x.shape
    pad = (-v) % 16
    pixels = (x.float() + 1) * 127.5
    if pad:
        pixels = torch.nn.functional.pad(pixels, (0, pad, 0, pad), mode="replicate")
    m, m_inverse, *_ = _jpeg_constants(x.device)
    ycc = torch.einsum("ij,njhw->nihw", m, pixels)
    luma_steps, chroma_steps = jpeg_tables(qualities if qualities.device == x.device else qualities.to(x.device))
    y = _quantise_blocks(ycc[:, 0] - 128, luma_steps) + 128
    chroma = torch.nn.functional.avg_pool2d(ycc[:, 1:], 2)  # Cb, Cr, already centred on 0
    side = chroma.shape[-1]
    chroma = _quantise_blocks(chroma.reshape(n * 2, side, side), chroma_steps.repeat_interleave(2, dim=0)).reshape(n, 2, side, side)
    chroma = _double(_double(chroma, -1), -2)
    rgb = torch.einsum("ij,njhw->nihw", m_inverse, torch.cat([y[:, None], chroma], dim=1))
    rgb = rgb[..., :v, :v] / 127.5 - 1
    return rgb.to(x.dtype).contiguous(memory_format=torch.channels_last)


def rotate(x: Tensor, angles: Tensor) -> Tensor:
    """Each copy of (N, C, V, V) turned by its angle (degrees, counter-clockwise) about the
    centre, bilinear, with samples past an edge reflected back inside (no black corners).

    Four ``index_select`` calls on the flattened copies (one per bilinear neighbour) with
    weights that do not depend on the image: the backward is ``index_add``, deterministic like
    :func:`jitter_crop`'s, where ``F.grid_sample``'s backward is not deterministic on CUDA.
    Rotation is not separable, so it cannot be two small matrix products like the zoom.
    """
    n, c, v, _ = x.shape
    dev = x.device
    theta = angles.float().deg2rad()
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    centre = (v - 1) / 2
    grid = torch.arange(v, device=dev, dtype=torch.float32) - centre
    yy, xx = grid[None, :, None], grid[None, None, :]
    # Output pixel (y, x) reads the input at the point rotated back by the angle (y points down,
    # so this turns the picture counter-clockwise as displayed, like torch.rot90).
    src_y = centre + cos * yy + sin * xx  # (N, V, V)
    src_x = centre - sin * yy + cos * xx
    y0, x0 = src_y.floor(), src_x.floor()
    fy, fx = src_y - y0, src_x - x0
    copy_base = (torch.arange(n, device=dev) * v * v)[:, None, None]
    pixels = x.transpose(0, 1).reshape(c, n * v * v)
    out = None
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            rows = _reflect((y0 + dy).long(), v)
            cols = _reflect((x0 + dx).long(), v)
            index = (copy_base + rows * v + cols).reshape(-1)
            term = pixels.index_select(1, index) * (wy * wx).reshape(1, -1).to(x.dtype)
            out = term if out is None else out + term
    return out.view(c, n, v, v).transpose(0, 1).contiguous(memory_format=torch.channels_last)


#: Points a strength schedule is checked at (every schedule family here is monotone, so its
#: extremes are among them).
_CHECK_POINTS = 101


def check_strength(name: str, schedule: Schedule) -> None:
    """An augmentation strength (px of jitter, colour shift, noise sigma) is never negative."""
    low = min(schedule.values(_CHECK_POINTS))
    if not low >= 0:  # also catches nan
        raise ValueError(f"augment {name} must stay non-negative (it is a strength); its schedule {schedule} reaches {low:g}.")


def _check_batch_size(batch_size: int) -> None:
    """The number of copies per image is a positive integer (a bool is refused, though Python counts it as one)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"augment batch_size must be a positive integer; got {batch_size!r}.")
    if not COPIES.holds(batch_size):
        raise ValueError(f"augment batch_size must be at most {COPIES.high:g} copies per image per step (each is a pass of the scorer); got {batch_size!r}.")


def rotate_shift_and_noise(x: Tensor, draws: Draws) -> Tensor:
    """The steps every kind of copy ends with, in this order: rotation, colour shift, noise."""
    if draws.angles is not None:
        x = rotate(x, draws.angles)
    if draws.scale is not None and draws.offset is not None:
        x = x * draws.scale + draws.offset
    if draws.noise is not None:
        x = x + draws.noise
    return x


class Augmentations:
    """Makes ``batch_size`` augmented copies of each image, with scheduled strengths."""

    def __init__(
        self,
        batch_size: int = 8,
        jitter: Schedule | float | None = None,
        color_shift: Schedule | float = ExponentialWarmup(start=0.05, end=0.3, rate=0.03),
        noise: Schedule | float = ExponentialWarmup(start=0.2, end=0.5, rate=0.03),
        jitter_enabled: bool = True,
        color_shift_enabled: bool = True,
        noise_enabled: bool = True,
        jitter_reaches_zero: bool = True,
        single_copy_when_off: bool = True,
        zoom: Schedule | float = 0.1,
        flip: Schedule | float = 0.5,
        zoom_enabled: bool = False,
        flip_enabled: bool = False,
        rotation: Schedule | float = 10.0,
        rotation_enabled: bool = False,
        grey_scales: list[float] | None = None,
        shrink: Schedule | float = 1.0,
        shrink_enabled: bool = False,
        jpeg_quality: Schedule | float = 75.0,
        jpeg_enabled: bool = False,
    ) -> None:
        """
        Args:
            batch_size: augmented copies per image per step.
            jitter: max positional shift in px per step; ``None`` anneals the pyramid's
                ``max_shift`` towards 0 (exponential warmup, r=0.03).
            color_shift: s in ``x * exp(U[-s, s]) + U[-s, s]`` per copy and channel.
            noise: standard deviation of the added Gaussian noise.
            jitter_enabled / color_shift_enabled / noise_enabled: switch each augmentation off.
            jitter_reaches_zero: the default jitter curve ends at exactly 0 px on the last step;
                ``False`` is DAS-AG v2's curve, which stops short (9 px at 768 px and 100 steps).
            single_copy_when_off: with every augmentation switched off all copies are the same
                image, so score one (DAS-AG v2 did; the gradient is the same at 1/batch_size of
                the cost); ``False`` still scores ``batch_size`` identical copies.
            zoom: z, each copy is magnified by a factor log-uniform in [1/(1+z), 1+z] about its
                centre (zoom in and out; edges reflected), so the image must work at several scales.
            flip: the probability that a copy is mirrored left to right.
            rotation: r, each copy is turned by an angle uniform in [-r, r] degrees about its centre.
            zoom_enabled / flip_enabled / rotation_enabled: off by default (DAS-AG v2 has none of
                them); transformation robustness as in feature visualisation (see docs/quality.md).
            grey_scales: per copy, a factor in (0, 1] that pulls the copy towards mid-grey
                (copy k of each image gets ``grey_scales[k % len]``; e.g. [1, 1, 0.5, 0.25]), so the
                picture must work at lower contrast too: the scale invariance of transfer attacks
                (Lin et al., ICLR 2020). Deterministic; null: off.
            shrink: s, each copy is reduced by a factor drawn from the quarter octaves 1, 2^(1/4), ...
                up to 1+s (1 halves it at most) and enlarged back, bicubic both ways, after zoom and flip: only what a thumbnail keeps
                reaches the guide. A schedule can start strong and relax (coarse before fine).
            jpeg_quality: q, each copy goes through a JPEG round trip at a quality uniform in [q, 100]
                (4:2:0 chroma, the standard tables; the rounding passes the gradient straight through).
            shrink_enabled / jpeg_enabled: off by default; the everyday edits of docs/quality.md as
                augmentations, so the picture keeps its class once it is shared.
        """
        _check_batch_size(batch_size)
        if grey_scales is not None and not (0 < len(grey_scales) <= batch_size and all(
                isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f <= 1 for f in grey_scales)):
            raise ValueError(f"augment grey_scales must be 1 to batch_size ({batch_size}) factors, each in (0, 1]; got {grey_scales!r}.")
        self.grey_scales = None if grey_scales is None else [float(f) for f in grey_scales]
        self.batch_size = batch_size
        self.jitter_reaches_zero = jitter_reaches_zero
        self.single_copy_when_off = single_copy_when_off
        self._set_strengths(jitter, color_shift, noise, zoom, flip, rotation)
        self._set_switches(jitter_enabled, color_shift_enabled, noise_enabled, zoom_enabled, flip_enabled, rotation_enabled)
        self._set_edits(shrink, shrink_enabled, jpeg_quality, jpeg_enabled)

    def _set_edits(self, shrink: Schedule | float, shrink_enabled: bool, jpeg_quality: Schedule | float, jpeg_enabled: bool) -> None:
        """The everyday edits as augmentations: a shrink factor that stays within [0, 15] (16x smaller at
        most) and a JPEG quality within [1, 100], refused otherwise even while switched off."""
        self.shrink = as_schedule(shrink)
        self.jpeg_quality = as_schedule(jpeg_quality)
        low, high = min(self.shrink.values(_CHECK_POINTS)), max(self.shrink.values(_CHECK_POINTS))
        if not (0 <= low and high <= 15):
            raise ValueError(f"augment shrink must stay within [0, 15] (a copy reduced by up to 1 + shrink times); its schedule {self.shrink} "
                             f"reaches {low if not low >= 0 else high:g}.")
        low, high = min(self.jpeg_quality.values(_CHECK_POINTS)), max(self.jpeg_quality.values(_CHECK_POINTS))
        if not (1 <= low and high <= 100):
            raise ValueError(f"augment jpeg_quality must stay within [1, 100] (JPEG's quality scale); its schedule {self.jpeg_quality} "
                             f"reaches {low if not low >= 1 else high:g}.")
        self.shrink_enabled = shrink_enabled
        self.jpeg_enabled = jpeg_enabled

    def _set_strengths(self, jitter: Schedule | float | None, color_shift: Schedule | float, noise: Schedule | float, zoom: Schedule | float,
                       flip: Schedule | float, rotation: Schedule | float) -> None:
        """Turn each strength into a schedule and refuse one that goes negative (or a flip probability above 1)."""
        self.jitter = None if jitter is None else as_schedule(jitter)
        self.color_shift = as_schedule(color_shift)
        self.noise = as_schedule(noise)
        self.zoom = as_schedule(zoom)
        self.flip = as_schedule(flip)
        self.rotation = as_schedule(rotation)
        strengths = {"jitter": self.jitter, "color_shift": self.color_shift, "noise": self.noise,
                     "zoom": self.zoom, "flip": self.flip, "rotation": self.rotation}
        for name, schedule in strengths.items():
            if schedule is not None:
                check_strength(name, schedule)
        if max(self.flip.values(_CHECK_POINTS)) > 1:
            raise ValueError(f"augment flip is a probability and must stay within [0, 1]; its schedule {self.flip} goes above 1.")

    def _set_switches(self, jitter_enabled: bool, color_shift_enabled: bool, noise_enabled: bool, zoom_enabled: bool, flip_enabled: bool,
                      rotation_enabled: bool) -> None:
        """Record which augmentations are on; a switched-off one keeps its schedule but draws nothing."""
        self.jitter_enabled = jitter_enabled
        self.color_shift_enabled = color_shift_enabled
        self.noise_enabled = noise_enabled
        self.zoom_enabled = zoom_enabled
        self.flip_enabled = flip_enabled
        self.rotation_enabled = rotation_enabled

    @property
    def copies(self) -> int:
        """Copies scored per image and step: ``batch_size``, or 1 when every augmentation is off
        and ``single_copy_when_off`` (fixed for the run, so the batch shape never changes)."""
        off = not (self.jitter_enabled or self.color_shift_enabled or self.noise_enabled or self.zoom_enabled or self.flip_enabled
                   or self.rotation_enabled or self.grey_scales is not None or self.shrink_enabled or self.jpeg_enabled)
        return 1 if off and self.single_copy_when_off else self.batch_size

    def jitter_schedule(self, max_shift: int) -> Schedule:
        """The jitter schedule for a canvas with margin ``max_shift``."""
        if self.jitter is not None:
            return self.jitter
        return ExponentialWarmup(start=float(max_shift), end=0.0, rate=0.03, exact_end=self.jitter_reaches_zero)

    def strengths(self, step: int, total_steps: int, max_shift: int) -> Strengths:
        """All strengths at one step; jitter is clipped to the margin and rounded down."""
        jitter = self.jitter_schedule(max_shift)(step, total_steps) if self.jitter_enabled else 0.0
        return Strengths(
            jitter=int(min(max(jitter, 0.0), max_shift)),
            color_shift=self.color_shift(step, total_steps) if self.color_shift_enabled else 0.0,
            noise=self.noise(step, total_steps) if self.noise_enabled else 0.0,
            zoom=self.zoom(step, total_steps) if self.zoom_enabled else 0.0,
            flip=self.flip(step, total_steps) if self.flip_enabled else 0.0,
            rotation=self.rotation(step, total_steps) if self.rotation_enabled else 0.0,
            shrink=self.shrink(step, total_steps) if self.shrink_enabled else 0.0,
            jpeg_quality=self.jpeg_quality(step, total_steps) if self.jpeg_enabled else 0.0,
        )

    def draw(
        self, num_images: int, visible: int, strengths: Strengths, generator: torch.Generator, device: torch.device | str,
        dtype: torch.dtype = torch.float32,
    ) -> Draws:
        """Every random number of one step, for ``num_images * batch_size`` copies of side ``visible``.

        The draw order (shifts, colour scale, colour offset, noise, then zooms, flips and angles,
        then shrink factors and JPEG qualities, which came later, in that order) is part of the
        reproducibility contract: changing it changes every image.
        """
        n = num_images * self.copies
        j = strengths.jitter
        if j > 0:
            shifts = torch.randint(-j, j + 1, (n, 2), generator=generator, device=device)
        else:
            shifts = torch.zeros(n, 2, dtype=torch.long, device=device)
        scale = offset = noise = None
        s = strengths.color_shift
        if s > 0:
            scale = torch.empty(n, 3, 1, 1, device=device).uniform_(-s, s, generator=generator).exp().to(dtype)
            offset = torch.empty(n, 3, 1, 1, device=device).uniform_(-s, s, generator=generator).to(dtype)
        if strengths.noise > 0:
            noise = strengths.noise * torch.randn((n, 3, visible, visible), generator=generator, device=device, dtype=dtype)
        zooms = flips = None
        if strengths.zoom > 0:
            reach = math.log1p(strengths.zoom)
            zooms = torch.empty(n, device=device).uniform_(-reach, reach, generator=generator).exp()
        if strengths.flip > 0:
            flips = torch.rand(n, generator=generator, device=device) < strengths.flip
        angles = None
        if strengths.rotation > 0:
            angles = torch.empty(n, device=device).uniform_(-strengths.rotation, strengths.rotation, generator=generator)
        shrinks = bank = qualities = None
        if strengths.shrink > 0:
            levels = shrink_levels(strengths.shrink)
            shrinks = torch.randint(0, levels, (n,), generator=generator, device=device)
            bank = shrink_bank_on(visible, levels, torch.device(device), dtype)
        if strengths.jpeg_quality > 0:
            qualities = torch.empty(n, device=device).uniform_(strengths.jpeg_quality, 100, generator=generator)
        return Draws(shifts, scale, offset, noise, zooms, flips, angles, shrinks, bank, qualities)

    def apply(self, canvas: Tensor, margin: int, draws: Draws) -> Tensor:
        """(I, 3, S, S) canvas -> (I*copies, 3, V, V) augmented copies, image-major order."""
        x = jitter_crop(canvas, margin, draws.shifts, copies=self.copies)
        if draws.zooms is not None or draws.flips is not None or draws.shrinks is not None:
            shrink = draws.shrink_bank[draws.shrinks] if draws.shrinks is not None and draws.shrink_bank is not None else None
            x = zoom_and_flip(x, draws.zooms, draws.flips, shrink)
        if draws.qualities is not None:  # the shared picture, before the ascent's own colour shift and noise
            x = jpeg_like(x, draws.qualities)
        if self.grey_scales is not None:
            x = x * self._grey_factors(x.shape[0]).to(device=x.device, dtype=x.dtype)
        return rotate_shift_and_noise(x, draws)

    def _grey_factors(self, n: int) -> Tensor:
        """(n, 1, 1, 1): copy k of each image (image-major order) scaled by ``grey_scales[k % len]``
        (0 is mid-grey in the canvas's [-1, 1] units)."""
        per_image = torch.tensor([self.grey_scales[k % len(self.grey_scales)] for k in range(self.copies)])
        return per_image.repeat(n // self.copies).view(n, 1, 1, 1)

    def __call__(self, canvas: Tensor, margin: int, strengths: Strengths, generator: torch.Generator) -> Tensor:
        """Draw and apply in one call: (I, 3, S, S) canvas -> (I*copies, 3, V, V) copies."""
        visible = canvas.shape[-1] - 2 * margin
        draws = self.draw(canvas.shape[0], visible, strengths, generator, canvas.device, canvas.dtype)
        return self.apply(canvas, margin, draws)

    def __repr__(self) -> str:
        return (
            f"Augmentations(batch_size={self.batch_size}, jitter={self.jitter}, color_shift={self.color_shift}, "
            f"noise={self.noise}, enabled=(jitter={self.jitter_enabled}, color={self.color_shift_enabled}, noise={self.noise_enabled}), "
            f"jitter_reaches_zero={self.jitter_reaches_zero}, single_copy_when_off={self.single_copy_when_off}, "
            f"zoom={self.zoom} ({'on' if self.zoom_enabled else 'off'}), flip={self.flip} ({'on' if self.flip_enabled else 'off'}), "
            f"rotation={self.rotation} ({'on' if self.rotation_enabled else 'off'}), grey_scales={self.grey_scales}, "
            f"shrink={self.shrink} ({'on' if self.shrink_enabled else 'off'}), jpeg_quality={self.jpeg_quality} ({'on' if self.jpeg_enabled else 'off'}))"
        )
