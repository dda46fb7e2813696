"""The trainable image: a stack of tensors at power-of-two resolutions.

Optimising pixels directly finds adversarial noise; optimising a multi-resolution stack
whose levels are averaged after upsampling puts most of each gradient step into coarse,
low-frequency structure, which is what makes Direct Ascent images transfer to models that
did not guide them (the DAS effect). This module is the only thing that trains.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from dasag.image.colour import ColourBasis, colour_matrix, from_rgb, to_rgb
from dasag.image.resize import MODES, resize_matrix

#: Visible output size -> (canvas size, jitter margin). 384 and 768 are the DAS-AG v2 presets;
#: 96 and 192 keep CPU runs short (192 is the offline demo's image).
PRESETS: dict[int, tuple[int, int]] = {96: (128, 16), 192: (256, 32), 256: (512, 128), 384: (512, 64), 768: (1024, 128)}


def _is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


#: fp32 copies of the levels a step holds at least: the values, their gradient, Adam's two moments.
COPIES_PER_STEP = 4
#: Canvas-sized fp32 tensors a step holds at least: the level sum, its tanh, and both their gradients.
CANVASES_PER_STEP = 4


def level_sizes(max_size: int, min_size: int = 1, level_step: int | None = None) -> list[int]:
    """The pyramid's level sides: powers of two from ``min_size`` to ``max_size`` (DAS-AG v2), or
    with ``level_step`` every ``level_step``-th side from ``min_size`` up, ``max_size`` always last
    (the original DAS: every side, ``range(1, 337)``; its ImageNet recipe, every fourth)."""
    if level_step is None:
        return [2**k for k in range(int(math.log2(min_size)), int(math.log2(max_size)) + 1)]
    sizes = list(range(min_size, max_size, level_step))
    return sizes + [max_size]


def octave_weight(size: int, level_step: int | None) -> float:
    """A level's weight under ``per_octave``: one over the number of levels per octave around
    its side (about ``size * ln 2 / level_step`` for dense levels), at most 1."""
    if level_step is None:
        return 1.0
    return 1.0 / max(1.0, size * math.log(2) / level_step)


def training_bytes(max_size: int, num_images: int = 1, min_size: int = 1, level_step: int | None = None) -> int:
    """The least memory an ascent step on this pyramid holds (levels, gradients, Adam state and
    the rendered canvas), before the scorer's share: a lower bound, checked before anything is allocated."""
    values = num_images * 3 * sum(s * s for s in level_sizes(max_size, min_size, level_step))
    canvas = num_images * 3 * max_size**2
    return 4 * (COPIES_PER_STEP * values + CANVASES_PER_STEP * canvas)




def check_fits_in_memory(max_size: int, num_images: int, min_size: int, available: int | None, level_step: int | None = None) -> None:
    """Refuse a pyramid whose step could never fit in ``available`` bytes, naming the largest that
    could; called before the pyramid is built, so nothing is allocated for a size that cannot run.
    Sizes the constructor refuses (not powers of two, no images) are left to its own sentence."""
    dense = isinstance(level_step, int) and level_step >= 1
    if not ((_is_power_of_two(max_size) or (dense and isinstance(max_size, int) and 2 <= max_size <= 16384))
            and _is_power_of_two(min_size) and num_images >= 1):
        return
    need = training_bytes(max_size, num_images, min_size, level_step)
    if available is None or need <= available:
        return
    largest = max_size
    while largest > min_size and training_bytes(largest, num_images, min_size, level_step) > available:
        largest //= 2
    raise ValueError(
        f"pyramid max_size {max_size} with {num_images} image(s) needs at least {need / 2**30:.1f} GiB for its levels, gradients, "
        f"optimiser state and canvas, more than this machine's {available / 2**30:.1f} GiB of memory; allowed here: max_size up to {largest}."
    )


def _check_pyramid_args(max_size: int, max_shift: int, num_images: int, interpolation: str, min_size: int, level_step: int | None) -> None:
    """Refuse sizes and settings a pyramid cannot be built with, before anything is allocated."""
    dense = isinstance(level_step, int) and not isinstance(level_step, bool) and level_step >= 1
    if not (_is_power_of_two(max_size) or (dense and isinstance(max_size, int) and not isinstance(max_size, bool) and 2 <= max_size <= 16384)):
        raise ValueError(f"pyramid max_size must be a power of two (e.g. 256, 512, 1024), or with level_step any whole side from 2 to 16384 "
                         f"(dense levels end at any side, as the original DAS's 336); got {max_size}.")
    if not _is_power_of_two(min_size) or min_size > max_size:
        raise ValueError(f"pyramid min_size must be a power of two no larger than max_size={max_size}; got {min_size}.")
    if max_shift < 0 or 2 * max_shift >= max_size:
        raise ValueError(
            f"pyramid max_shift must be in [0, {(max_size - 1) // 2}] so that the canvas of {max_size} px keeps a visible image; got {max_shift}."
        )
    if level_step is not None and (isinstance(level_step, bool) or not isinstance(level_step, int) or level_step < 1):
        raise ValueError(f"pyramid level_step must be a positive integer (a level every level_step px) or null (powers of two); got {level_step!r}.")
    if num_images < 1:
        raise ValueError(f"num_images must be a positive integer; got {num_images}.")
    if interpolation not in MODES:
        raise ValueError(f"interpolation must be one of {', '.join(MODES)}; got {interpolation!r}.")


def _level_gains(level_gains: list[float] | None, levels: int) -> list[float] | None:
    """Every level's gain, coarsest first (1 for those ``level_gains`` leaves out), or ``None``; a bad list is one sentence."""
    if level_gains is None:
        return None
    ok = isinstance(level_gains, (list, tuple)) and 1 <= len(level_gains) <= levels and all(
        isinstance(g, (int, float)) and not isinstance(g, bool) and 0 < g <= 1 for g in level_gains)
    if not ok:
        raise ValueError(f"pyramid level_gains must be 1 to {levels} gains (the finest levels', finest last), each in (0, 1]; got {level_gains!r}.")
    return [1.0] * (levels - len(level_gains)) + [float(g) for g in level_gains]


def _check_render_args(level_weights: str, contrast: float | None) -> None:
    """Refuse a level weighting or a contrast the render does not know."""
    if level_weights not in ("uniform", "per_octave"):
        raise ValueError(f"pyramid level_weights must be 'uniform' or 'per_octave'; got {level_weights!r}.")
    if contrast is not None and not contrast > 0:
        raise ValueError(f"pyramid contrast must be a positive number (the pre-tanh standard deviation) or null; got {contrast!r}.")


class ImagePyramid(nn.Module):
    """``num_images`` independent images, each a pyramid of levels 1, 2, 4, ... ``max_size``.

    The canvas is ``max_size`` square and carries a margin of ``max_shift`` px on every side
    that positional jitter can move into; the visible image is ``max_size - 2*max_shift``.
    """

    def __init__(
        self,
        max_size: int = 512,
        max_shift: int = 64,
        num_images: int = 1,
        interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear",
        min_size: int = 1,
        init_image: str | None = None,
        level_step: int | None = None,
        colour: ColourBasis = "rgb",
        level_weights: Literal["uniform", "per_octave"] = "uniform",
        contrast: float | None = None,
        level_gains: list[float] | None = None,
    ) -> None:
        """
        Args:
            max_size: canvas side in px, a power of two (512 for 384 px output, 1024 for 768); with
                ``level_step``, any side (the original DAS: 336, a 224 px picture and a 56 px margin).
            max_shift: margin in px cropped after jitter; also the largest jitter allowed.
            num_images: independent images optimised together in one batched forward pass.
            interpolation: how levels are upsampled to the canvas before averaging.
            min_size: the coarsest level's side, a power of two.
            init_image: start from this image file instead of noise (``from_image`` inverts the render).
            level_step: ``None`` (default): levels at the powers of two, as DAS-AG v2; an integer k:
                a level at every k-th side from ``min_size`` to ``max_size`` (dense levels, as the
                original DAS), which spreads each step over many more scales (see docs/quality.md).
            colour: ``rgb`` (default) or ``decorrelated``: the levels hold colour in a basis whose
                axes are uncorrelated over natural images, turned into RGB before the squashing
                function (:mod:`dasag.image.colour`).
            level_weights: how much each level counts in the render. ``uniform`` (default): the
                mean of the levels. ``per_octave``: each octave of sides counts as much as any
                other, whatever the number of levels in it; dense levels otherwise crowd the fine
                octaves (64 of 65 levels at step 4 are finer than 4 px) and act like a pixel image.
            contrast: ``None`` (default): the render as it is. A number c: each image's pre-tanh
                values are standardised to mean 0 and standard deviation c before tanh, so the
                picture's contrast is set by construction rather than left to the step size.
                A start image (``init_image``, :meth:`set_image`) keeps its own mean and spread
                instead, so it renders as itself and an edit keeps its contrast.
            level_gains: ``None`` (default): every level as ``level_weights`` says. A list: the gains of
                the finest levels, finest last (e.g. ``[0.5, 0.25]``: the 128 px level at half, the
                256 px level at a quarter), each in (0, 1]; the others keep 1. Under Adam, which moves
                every parameter by about the learning rate whatever its gradient's size, a level's gain
                is its learning rate: the fine levels change the picture more slowly, so the class
                evidence grows in the coarse ones. The levels start divided by their gains, so the
                first render is the same noise.
        """
        super().__init__()
        _check_pyramid_args(max_size, max_shift, num_images, interpolation, min_size, level_step)
        self.max_size = max_size
        self.max_shift = max_shift
        self.num_images = num_images
        self.interpolation = interpolation
        self._set_render(min_size, level_step, colour, level_weights, contrast, level_gains)
        self._set_init_image(init_image)

    def _set_render(self, min_size: int, level_step: int | None, colour: ColourBasis,
                    level_weights: Literal["uniform", "per_octave"], contrast: float | None, level_gains: list[float] | None = None) -> None:
        """The levels and the buffers that render them, in the constructor's order: a bad colour is refused
        before a bad ``level_weights`` or ``contrast``, and the levels' noise is drawn last."""
        self.sizes = level_sizes(self.max_size, min_size, level_step)
        self.level_step = level_step
        self.colour = colour
        self.register_buffer("colour_matrix", colour_matrix(colour), persistent=False)
        _check_render_args(level_weights, contrast)
        self.level_weights = level_weights
        self.contrast = contrast
        # With contrast, set_image stores each image's own pre-tanh mean and spread here, so the
        # render of a start image is that image exactly (the standardisation alone has no inverse)
        # and an edit keeps the photograph's contrast. Rebuilt from the config, never saved.
        self.register_buffer("tone", None, persistent=False)
        weights = [1.0] * len(self.sizes) if level_weights == "uniform" else [octave_weight(s, level_step) for s in self.sizes]
        self.register_buffer("weights", torch.tensor(weights) / sum(weights), persistent=False)
        gains = _level_gains(level_gains, len(self.sizes))
        self.level_gains = None if gains is None else list(level_gains)
        self.register_buffer("gains", None if gains is None else torch.tensor(gains), persistent=False)
        # Seed formula: randn(1, 3, s, s) / s per level; finer levels start quieter (and, with gains, divided by them).
        divisors = gains or [1.0] * len(self.sizes)  # dividing by 1.0 is exact: the same bytes as without gains
        self.levels = nn.ParameterList(nn.Parameter(torch.randn(self.num_images, 3, s, s) / s / g) for s, g in zip(self.sizes, divisors))
        # Upsampling matrices, one per coarser level: buffers (not saved in checkpoints) so they
        # follow the module to its device and reach a compiled render as inputs.
        for s in self.sizes[:-1]:
            self.register_buffer(f"upsample_{s}", resize_matrix(s, self.max_size, self.interpolation), persistent=False)

    def _set_init_image(self, init_image: str | None) -> None:
        """Record the start image and, when there is one, make the render return it."""
        self.init_image = init_image
        if init_image is not None:
            from dasag.image.picture import load_image

            self.set_image(load_image(init_image, self.visible_size))

    @classmethod
    def preset(cls, output_size: int, **kwargs) -> ImagePyramid:
        """The canvas and margin of a preset output size (see :data:`PRESETS`)."""
        if output_size not in PRESETS:
            raise ValueError(f"preset output size must be one of {sorted(PRESETS)}; got {output_size}.")
        max_size, max_shift = PRESETS[output_size]
        return cls(max_size=max_size, max_shift=max_shift, **kwargs)

    @property
    def visible_size(self) -> int:
        return self.max_size - 2 * self.max_shift

    def canvas(self) -> Tensor:
        """Average of all levels upsampled to the canvas, through tanh: (num_images, 3, S, S) in [-1, 1].

        Each coarser level is upsampled as two matrix products, ``M @ level @ M.T``, on every
        device: the same values as ``F.interpolate`` to float rounding, deterministic on CUDA,
        and on CPU forward+backward is about 4x faster than with ``F.interpolate``, whose
        backward pass is a slow scatter.
        """
        total = None
        weighted = self.level_weights != "uniform"
        for i, (size, level) in enumerate(zip(self.sizes, self.levels)):
            if size == self.max_size:
                up = level
            else:
                m = self.get_buffer(f"upsample_{size}")
                up = m @ level @ m.T
            if weighted:
                up = up * self.weights[i]
            if self.gains is not None:
                up = up * self.gains[i]
            total = up if total is None else total + up
        if not weighted:
            total = total / len(self.levels)  # the mean, written as before: the same bytes as ever
        if self.colour != "rgb":
            total = to_rgb(total, self.colour_matrix)
        if self.contrast is not None:
            centred = total - total.mean(dim=(1, 2, 3), keepdim=True)
            spread = centred / (centred.std(dim=(1, 2, 3), keepdim=True) + 1e-6)
            total = spread * self.contrast if self.tone is None else self.tone[:, :1, None, None] + spread * self.tone[:, 1:, None, None]
        return torch.tanh(total)

    def crop(self, canvas: Tensor) -> Tensor:
        """The visible image: the canvas without its margin."""
        m = self.max_shift
        return canvas[..., m : self.max_size - m, m : self.max_size - m]

    def forward(self) -> Tensor:
        """The visible images in [-1, 1], (num_images, 3, V, V)."""
        return self.crop(self.canvas())

    @torch.no_grad()
    def set_image(self, image: Tensor) -> None:
        """Make ``forward()`` return ``image`` (the inverse of the render).

        ``image`` is (3, V, V) or (num_images, 3, V, V) in [-1, 1] at the visible size. The
        margin is filled by reflection; all the signal goes to the finest level (which is
        not resampled), scaled by the number of levels because the render averages them.
        """
        if image.dim() == 3:
            image = image.unsqueeze(0)
        v = self.visible_size
        if image.shape[-2:] != (v, v):
            raise ValueError(f"init image must be {v}x{v} px (the visible size); got {tuple(image.shape[-2:])}.")
        image = image.expand(self.num_images, -1, -1, -1).to(self.levels[-1])
        m = self.max_shift
        if m:
            image = torch.nn.functional.pad(image, (m, m, m, m), mode="reflect" if m < v else "replicate")
        eps = 1e-6
        target = torch.atanh(image.clamp(-1 + eps, 1 - eps))
        if self.contrast is not None:  # the standardisation then gives back this mean and spread: target itself
            flat = target.flatten(1)
            self.tone = torch.stack([flat.mean(1), flat.std(1) + 1e-6], dim=1)
        if self.colour != "rgb":
            target = from_rgb(target, self.colour_matrix)
        target = target * len(self.levels) if self.level_weights == "uniform" else target / self.weights[-1]
        if self.gains is not None:
            target = target / self.gains[-1]
        for level in self.levels[:-1]:
            level.zero_()
        self.levels[-1].copy_(target)
