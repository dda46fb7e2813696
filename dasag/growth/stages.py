"""Progressive growth: the stages of a large image, and growing a trained pyramid onto a larger canvas.

A 1024 or 2048 px image optimised from noise at its full size spends every early step
moving millions of fine-level values that only add texture, at the cost of the largest
canvas. Growth optimises the composition at a small size first, then carries the trained
pyramid over to a canvas two (or four, ...) times larger, where new, finer levels start at
zero, and continues: the picture is kept and only detail is added.

A growth block names the visible size of every stage and its steps, and may change settings
for the stages after the first::

    growth:
      sizes: [256, 512, 1024]   # visible px of each stage, increasing
      steps: [60, 24, 12]       # ascent steps of each stage
      later_stages:             # optional: merged over the config for every stage after the first
        model: {augment: {init_args: {jitter_enabled: false}}}

A fresh optimiser at the first stage's step size would paint a new picture over the grown one
within a few steps; ``later_stages`` is where a config lowers it (``lr_scheduler``) so a later
stage adds detail to the picture it was given.

Each stage is the run's own config with the pyramid's ``max_size`` and ``max_shift`` scaled
by the same factor: the canvas stays a power of two and the margin keeps its share of it,
so the visible window of a stage is exactly the upsampled window of the stage before (the
same picture, framed the same way). A size is reachable when that factor makes a power-of-two
canvas: with the demo's 512 px canvas and 128 px margin (256 visible), 128, 256, 512, 1024 ... are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dasag.core.errors import ConfigError
from dasag.image.pyramid import ImagePyramid, _is_power_of_two
from dasag.run.metadata import constructor_default

#: The keys of a growth block (anything else is refused by name); ``later_stages`` is optional.
GROWTH_KEYS = ("sizes", "steps", "later_stages")
#: The pyramid classes growth knows how to carry over (a subclass may hold state it does not).
GROWABLE = ("dasag.ImagePyramid", "dasag.image.pyramid.ImagePyramid")


@dataclass(frozen=True)
class Stage:
    """One stage of a growth run: its visible size, canvas, margin and steps (``index`` from 0)."""

    index: int
    size: int
    canvas: int
    max_shift: int
    steps: int

    @property
    def name(self) -> str:
        return f"stage_{self.index + 1}_{self.size}px"


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def reachable_sizes(canvas: int, max_shift: int, largest: int = 8192) -> list[int]:
    """Visible sizes a pyramid of this canvas and margin grows or shrinks to, up to ``largest`` px:
    each power-of-two canvas whose margin, at the same share of it, is a whole number of px."""
    out = []
    c = 1
    while c <= largest * 4:
        if (c * max_shift) % canvas == 0:
            size = c - 2 * (c * max_shift // canvas)
            if 0 < size <= largest:
                out.append(size)
        c *= 2
    return out


def pyramid_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The pyramid's init_args with its size and margin filled in from the constructor when absent."""
    pyramid = ((config.get("model") or {}).get("pyramid") or {})
    args = dict(pyramid.get("init_args") or {})
    for key in ("max_size", "max_shift"):
        args.setdefault(key, constructor_default(ImagePyramid, key))
    return {"class_path": pyramid.get("class_path", "dasag.ImagePyramid"), "init_args": args}


def plan_stages(growth: Any, config: dict[str, Any]) -> list[Stage]:
    """The stages of a growth block for this config, or one sentence saying what is wrong and what is allowed.

    Refused: a block that is not a mapping or has a key other than ``sizes`` and ``steps``;
    sizes that are not positive integers, fewer than two or not increasing; a size no canvas
    reaches (see :func:`reachable_sizes`); steps that are not one positive integer per stage;
    a pyramid growth cannot carry over (another class, ``init_image``, dense ``level_step``).
    """
    sizes, steps = _check_growth_block(growth)
    canvas, shift = _growable_canvas(config)
    visible = canvas - 2 * shift
    stages = []
    for i, (size, n) in enumerate(zip(sizes, steps)):
        c = size * canvas / visible
        if not (c == int(c) and _is_power_of_two(int(c)) and (int(c) * shift) % canvas == 0):
            allowed = ", ".join(str(s) for s in reachable_sizes(canvas, shift, largest=max(max(sizes), 4096)))
            raise ConfigError(
                f"growth.sizes: {size} px is not reachable by growth: the canvas must be a power of two with visible = canvas - 2*max_shift "
                f"and the margin keeping its share (this config: {visible} px on a {canvas} px canvas with max_shift {shift}); allowed: {allowed}."
            )
        c = int(c)
        stages.append(Stage(index=i, size=size, canvas=c, max_shift=c * shift // canvas, steps=n))
    return stages


def _check_growth_block(growth: Any) -> tuple[list[int], list[int]]:
    """The block's sizes and steps, once its keys, ``later_stages`` and both lists are checked."""
    if not isinstance(growth, dict):
        raise ConfigError(f"growth must be a mapping with the keys {' and '.join(GROWTH_KEYS)}; got {type(growth).__name__} {growth!r}.")
    unknown = sorted(set(growth) - set(GROWTH_KEYS))
    if unknown:
        raise ConfigError(f"growth has an unknown key {unknown[0]!r}; allowed: {', '.join(GROWTH_KEYS)}.")
    for key in ("sizes", "steps"):
        if key not in growth:
            raise ConfigError(f"growth needs {key!r}: a list with one entry per stage (sizes: visible px; steps: ascent steps).")
    later = growth.get("later_stages", {})
    if not isinstance(later, dict) or "growth" in later:
        raise ConfigError(f"growth.later_stages must be a mapping of config settings (model, data, ...) merged over every stage after the first; "
                          f"got {later!r}.")
    if "pyramid" in (later.get("model") or {}):
        raise ConfigError("growth.later_stages cannot set model.pyramid: every stage's pyramid is the config's, scaled, so that it can carry over.")
    sizes, steps = growth["sizes"], growth["steps"]
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(_positive_int(s) for s in sizes):
        raise ConfigError(f"growth.sizes must be a list of at least two visible sizes in px (positive integers), one per stage; got {sizes!r}.")
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise ConfigError(f"growth.sizes must increase from each stage to the next (growth only enlarges the image); got {sizes}.")
    if not isinstance(steps, list) or len(steps) != len(sizes) or not all(_positive_int(s) for s in steps):
        raise ConfigError(f"growth.steps must be a list of {len(sizes)} positive integers (the ascent steps of each stage in growth.sizes); got {steps!r}.")
    return sizes, steps


def _growable_canvas(config: dict[str, Any]) -> tuple[int, int]:
    """The config pyramid's canvas and margin, once growth can carry that pyramid over."""
    pyramid = pyramid_settings(config)
    args = pyramid["init_args"]
    if pyramid["class_path"] not in GROWABLE:
        raise ConfigError(f"growth carries over a dasag.ImagePyramid only; model.pyramid is {pyramid['class_path']!r}.")
    if args.get("init_image") is not None:
        raise ConfigError("growth starts from noise; model.pyramid.init_image is set (start from a photograph with a single-size run instead).")
    if args.get("level_step") is not None:
        raise ConfigError(f"growth needs power-of-two levels (model.pyramid level_step null), so every level carries over; "
                          f"got level_step {args['level_step']!r}.")
    canvas, shift = args["max_size"], args["max_shift"]
    if not (_positive_int(canvas) and _is_power_of_two(canvas)) or not (isinstance(shift, int) and 0 <= shift and 2 * shift < canvas):
        raise ConfigError(f"growth scales the config's pyramid, whose max_size {canvas!r} and max_shift {shift!r} are not a valid canvas and margin.")
    return canvas, shift


def stage_config(config: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """The run config of one stage: ``config`` (without its growth block; after the first stage with
    ``growth.later_stages`` merged over it) with the pyramid's size and margin, and the run's length, set to the stage's."""
    import copy

    from dasag.core.config import deep_merge

    out = copy.deepcopy(config)
    growth = out.pop("growth", None) or {}
    if stage.index > 0 and growth.get("later_stages"):
        out = deep_merge(out, growth["later_stages"])
    model = out.setdefault("model", {})
    pyramid = model.setdefault("pyramid", {"class_path": "dasag.ImagePyramid"})
    pyramid.setdefault("init_args", {}).update({"max_size": stage.canvas, "max_shift": stage.max_shift})
    out.setdefault("trainer", {})["max_steps"] = stage.steps
    return out


@torch.no_grad()
def grow_pyramid(small: ImagePyramid, large: ImagePyramid) -> None:
    """Make ``large`` render ``small``'s picture, upsampled: carry every level over, new levels at zero.

    ``large`` must be ``small``'s pyramid on a canvas ``2**k`` times wider (the same levels from
    ``min_size`` up, the same interpolation, colour basis, level weighting and number of
    images; its margin ``2**k`` times wider too). A carried level is upsampled straight to the
    larger canvas by the same interpolation, so it is the same smooth surface, sampled more
    finely. Each level counts with its weight in the render (``1/n`` for the mean of ``n``
    levels), so a carried level is multiplied by its old weight over its new one: the sum
    before the squashing function is the small one's, upsampled. The new finer levels start at
    zero: Adam gives them detail from the first step of the next stage. Colour basis, contrast
    and a start image's ``tone`` act on that sum, so they carry over unchanged (``tone`` is copied).

    What differs from ``F.interpolate`` of the small image: a level upsampled once to the large
    canvas is smoother than one upsampled to the small canvas and again, and ``tanh`` of an
    upsampled sum is not the upsampling of ``tanh`` (at most a few 1/100 of the [-1, 1] range,
    on the finest edges; tests/test_growth.py measures it).
    """
    factor = large.max_size // small.max_size
    problems = []
    if factor < 2 or large.max_size != factor * small.max_size or not _is_power_of_two(factor):
        problems.append(f"a canvas 2**k times wider (got {small.max_size} -> {large.max_size})")
    if large.max_shift != factor * small.max_shift:
        problems.append(f"a margin {factor} times wider (got {small.max_shift} -> {large.max_shift})")
    if small.level_step is not None or large.level_step is not None:
        problems.append("power-of-two levels (level_step null)")
    if large.sizes[: len(small.sizes)] != small.sizes:
        problems.append(f"the same levels from min_size up (got {small.sizes[0]} and {large.sizes[0]})")
    for name in ("interpolation", "colour", "level_weights", "num_images", "contrast"):
        if getattr(small, name) != getattr(large, name):
            problems.append(f"the same {name} (got {getattr(small, name)!r} and {getattr(large, name)!r})")
    if problems:
        raise ValueError(f"grow_pyramid needs {problems[0]}.")
    old, new = small.weights, large.weights
    for i, level in enumerate(small.levels):
        large.levels[i].copy_(level * (old[i] / new[i]))
    for level in large.levels[len(small.levels) :]:
        level.zero_()
    large.tone = None if small.tone is None else small.tone.clone()


def upsampled_canvas(pyramid: ImagePyramid, factor: int) -> torch.Tensor:
    """The pyramid's canvas enlarged ``factor`` times by its own interpolation (the reference a
    grown pyramid's canvas is compared with)."""
    from dasag.image.resize import resize

    return resize(pyramid.canvas().detach(), pyramid.max_size * factor, mode=pyramid.interpolation, antialias=False)



def block_border_ratio(image: np.ndarray, period: int) -> float:
    """Mean |neighbour difference| across the borders of ``period`` px blocks over the mean
    everywhere else, both axes, of an (H, W, C) image: about 1 for a seam-free image, well above 1
    where blocks show (a stage's pixels enlarged without being smoothed, tiles scored apart).
    After growth by 2, a seam would sit on the borders of 2 px blocks; after two growths, also 4 px."""
    x = image.astype(np.float64)
    diffs = [np.abs(np.diff(x, axis=0)), np.abs(np.diff(x, axis=1)).transpose(1, 0, 2)]
    across = np.concatenate([d[period - 1 :: period].ravel() for d in diffs])
    within = np.concatenate([np.delete(d, np.s_[period - 1 :: period], axis=0).ravel() for d in diffs])
    return float(across.mean() / max(within.mean(), 1e-9))
