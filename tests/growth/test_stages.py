"""Progressive growth: the stage plan and its refusals, carrying a pyramid over, and the driver
(resumes after a kill to the same bytes, writes nothing on bad input, leaves no seams)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dasag.core.errors import ConfigError
from dasag.growth.stages import Stage, block_border_ratio, grow_pyramid, plan_stages, reachable_sizes, stage_config, upsampled_canvas
from dasag.image.pyramid import ImagePyramid

ROOT = Path(__file__).resolve().parents[2]
DEMO = {"model": {"pyramid": {"class_path": "dasag.ImagePyramid", "init_args": {"max_size": 512, "max_shift": 128}}}}


# ------------------------------------------------------------------ the plan
def test_stages_scale_canvas_and_margin_together() -> None:
    stages = plan_stages({"sizes": [256, 512, 1024], "steps": [60, 24, 12]}, DEMO)
    assert stages == [Stage(0, 256, 512, 128, 60), Stage(1, 512, 1024, 256, 24), Stage(2, 1024, 2048, 512, 12)]
    assert all(s.canvas - 2 * s.max_shift == s.size for s in stages)
    das = {"model": {"pyramid": {"init_args": {"max_size": 1024, "max_shift": 128}}}}  # DAS-AG v2's 768 px: margin 1/8 of the canvas
    assert [(s.canvas, s.max_shift) for s in plan_stages({"sizes": [768, 1536], "steps": [100, 40]}, das)] == [(1024, 128), (2048, 256)]
    assert reachable_sizes(512, 128, largest=2048) == [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]


@pytest.mark.parametrize("growth, match", [
    ({"sizes": [512, 256], "steps": [10, 10]}, r"growth.sizes must increase from each stage to the next .*got \[512, 256\]"),
    ({"sizes": [256, 256], "steps": [10, 10]}, r"must increase"),
    ({"sizes": [256, 768], "steps": [10, 10]}, r"768 px is not reachable by growth: the canvas must be a power of two .*allowed: .*256, 512, 1024"),
    ({"sizes": [256, 512], "steps": [10, 0]}, r"growth.steps must be a list of 2 positive integers"),
    ({"sizes": [256, 512], "steps": [10]}, r"growth.steps must be a list of 2 positive integers"),
    ({"sizes": [256, 512], "steps": [10, 2.5]}, r"growth.steps must be a list of 2 positive integers"),
    ({"sizes": [256], "steps": [10]}, r"growth.sizes must be a list of at least two visible sizes"),
    ({"sizes": [256, 512], "steps": [10, 5], "lr": 0.1}, r"growth has an unknown key 'lr'; allowed: sizes, steps, later_stages"),
    ({"sizes": [256, 512], "steps": [10, 5], "later_stages": [1]}, r"growth.later_stages must be a mapping of config settings"),
    ({"sizes": [256, 512], "steps": [10, 5], "later_stages": {"model": {"pyramid": {"init_args": {"contrast": 0.3}}}}},
     r"growth.later_stages cannot set model.pyramid"),
    ({"sizes": [256, 512]}, r"growth needs 'steps'"),
    ([256, 512], r"growth must be a mapping"),
])
def test_a_bad_growth_block_is_one_sentence(growth, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan_stages(growth, DEMO)


@pytest.mark.parametrize("pyramid, match", [
    ({"class_path": "dasag.MaskedPyramid", "init_args": {"init_image": "x.png"}}, r"carries over a dasag.ImagePyramid only"),
    ({"init_args": {"init_image": "x.png"}}, r"growth starts from noise; model.pyramid.init_image is set"),
    ({"init_args": {"level_step": 4}}, r"growth needs power-of-two levels \(model.pyramid level_step null\)"),
])
def test_a_pyramid_growth_cannot_carry_is_refused(pyramid, match: str) -> None:
    config = {"model": {"pyramid": {"class_path": "dasag.ImagePyramid", **pyramid}}}
    with pytest.raises(ConfigError, match=match):
        plan_stages({"sizes": [384, 768], "steps": [1, 1]}, config)


def test_a_stage_is_the_config_with_its_size_and_length_and_later_ones_with_their_settings() -> None:
    later = {"model": {"augment": {"init_args": {"jitter_enabled": False}}}}
    config = {**DEMO, "growth": {"sizes": [256, 512], "steps": [7, 3], "later_stages": later}, "trainer": {"max_steps": 60}}
    first, second = plan_stages(config["growth"], config)
    out = stage_config(config, second)
    assert "growth" not in out and out["trainer"]["max_steps"] == 3
    assert out["model"]["pyramid"]["init_args"] == {"max_size": 1024, "max_shift": 256}
    assert out["model"]["augment"]["init_args"] == {"jitter_enabled": False}
    assert "augment" not in stage_config(config, first)["model"]
    assert config["model"]["pyramid"]["init_args"]["max_size"] == 512  # the caller's config is untouched


# ------------------------------------------------------------------ carrying a pyramid over
def trained(kwargs: dict, seed: int = 0) -> ImagePyramid:
    """A 64 px canvas pyramid after 40 Adam steps towards a rough random picture: every level
    carries signal, as after an ascent (Adam moves every level at the same rate)."""
    torch.manual_seed(seed)
    p = ImagePyramid(max_size=64, max_shift=16, **kwargs)
    target = torch.rand(1, 3, 32, 32) * 1.8 - 0.9
    optimizer = torch.optim.Adam(p.parameters(), lr=0.1, betas=(0.5, 0.99))
    for _ in range(40):
        optimizer.zero_grad()
        (p() - target).pow(2).mean().backward()
        optimizer.step()
    return p


def upsampled_at_contrast(small: ImagePyramid, factor: int) -> torch.Tensor:
    """``small``'s sum of levels upsampled, then standardised to its contrast (or a start image's
    tone) and squashed: the small picture as a grown pyramid with ``contrast`` renders it, at the
    configured contrast by construction."""
    from dasag.image.resize import resize

    twin = ImagePyramid(max_size=small.max_size, max_shift=small.max_shift, colour=small.colour, interpolation=small.interpolation,
                        min_size=small.sizes[0])
    twin.load_state_dict(small.state_dict())
    total = resize(torch.atanh(twin.canvas().detach()), small.max_size * factor, mode=small.interpolation, antialias=False)
    total = (total - total.mean()) / (total.std() + 1e-6)
    mean, spread = (0.0, small.contrast) if small.tone is None else (small.tone[0, 0], small.tone[0, 1])
    return torch.tanh(mean + spread * total)


@pytest.mark.parametrize("kwargs", [{}, {"colour": "decorrelated", "contrast": 0.6}, {"interpolation": "bicubic", "min_size": 4}])
@pytest.mark.parametrize("factor", [2, 4])
def test_the_grown_image_is_the_small_image_upsampled(kwargs: dict, factor: int) -> None:
    small = trained(kwargs)
    large = ImagePyramid(max_size=64 * factor, max_shift=16 * factor, **kwargs)
    grow_pyramid(small, large)
    n_small, n_large = len(small.levels), len(large.levels)
    for i in range(n_small):  # carried, with the weight of a level in a longer mean made up for
        torch.testing.assert_close(large.levels[i], small.levels[i] * n_large / n_small)
    assert all(not level.any() for level in large.levels[n_small:])  # new, finer levels start at zero
    reference = upsampled_at_contrast(small, factor) if small.contrast else upsampled_canvas(small, factor)
    difference = (large.canvas().detach() - reference).abs()
    # Each level is upsampled once (not to the small canvas and again) and tanh comes after the
    # upsampling: differences on the sharpest edges only, in a range of 2.
    assert difference.mean() < 0.02 and (difference > 0.1).float().mean() < 0.02 and difference.max() < 0.4
    assert large().shape[-1] == small.visible_size * factor


def test_a_start_images_tone_carries_over_and_a_mismatched_pyramid_is_refused() -> None:
    small = trained({"contrast": 0.6})
    yy, xx = torch.meshgrid(torch.linspace(0, 4, 32), torch.linspace(0, 4, 32), indexing="ij")
    small.set_image(0.8 * torch.stack([yy.sin(), xx.cos(), (yy - xx).sin()]))  # a photograph's smoothness
    large = ImagePyramid(max_size=128, max_shift=32, contrast=0.6)
    grow_pyramid(small, large)
    assert torch.equal(large.tone, small.tone)
    difference = (large.canvas().detach() - upsampled_at_contrast(small, 2)).abs()
    assert difference.mean() < 0.02
    with pytest.raises(ValueError, match=r"grow_pyramid needs a margin 2 times wider \(got 16 -> 16\)"):
        grow_pyramid(small, ImagePyramid(max_size=128, max_shift=16, contrast=0.6))
    with pytest.raises(ValueError, match=r"grow_pyramid needs the same colour"):
        grow_pyramid(small, ImagePyramid(max_size=128, max_shift=32, contrast=0.6, colour="decorrelated"))
    with pytest.raises(ValueError, match=r"a canvas 2\*\*k times wider"):
        grow_pyramid(small, ImagePyramid(max_size=64, max_shift=16, contrast=0.6))


# ------------------------------------------------------------------ seams
def test_the_seam_measure_sees_blocks() -> None:
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(64, 64, 3)), 0), 1)
    smooth = (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    assert 0.8 < block_border_ratio(smooth, 2) < 1.25
    blocky = np.repeat(np.repeat(smooth[::2, ::2], 2, 0), 2, 1)  # nearest-neighbour upsampling: every difference is on a border
    assert block_border_ratio(blocky, 2) > 3


