"""Cutouts: random crops at the scorer's size, as matrices; drawn from (seed, step); no full-size copy."""

from __future__ import annotations

import pytest
import torch

from dasag.core.schedules import Constant
from dasag.image.augment import step_generator
from dasag.image.cutouts import CutoutDraws, Cutouts, crop_matrices, cutouts, mip_level
from dasag.image.resize import resize_matrix


@pytest.mark.parametrize("n_in, n_out", [(64, 24), (37, 16), (64, 100), (16, 16)])
def test_a_crop_of_the_whole_axis_is_the_antialiased_bilinear_resize(n_in: int, n_out: int) -> None:
    """The filter is F.interpolate's (bilinear, antialiased when shrinking), placed over the window."""
    got = crop_matrices(torch.tensor([0.0]), torch.tensor([float(n_in)]), n_out, n_in)[0]
    torch.testing.assert_close(got, resize_matrix(n_in, n_out, "bilinear", antialias=n_in > n_out), atol=1e-5, rtol=0)


def test_a_whole_pixel_crop_at_its_own_size_is_the_slice_and_jitter_moves_it_into_the_margin() -> None:
    canvas = torch.randn(2, 3, 64, 64)
    boxes = torch.tensor([[4.0, 8.0, 16.0], [0.0, 0.0, 16.0], [16.0, 16.0, 16.0], [2.0, 3.0, 16.0]])
    shifts = torch.tensor([[0, 0], [5, -3], [-6, 6], [0, 0]])
    out = cutouts(canvas, 16, boxes, shifts, reach=6, cut_size=16, min_fraction=0.5)
    assert out.shape == (4, 3, 16, 16) and out.is_contiguous(memory_format=torch.channels_last)
    for n, ((top, left, side), (dy, dx)) in enumerate(zip(boxes.long().tolist(), shifts.tolist())):
        y, x = 16 + top - dy, 16 + left - dx  # image-major: copies 0-1 of image 0, 2-3 of image 1
        torch.testing.assert_close(out[n], canvas[n // 2, :, y : y + side, x : x + side], atol=1e-6, rtol=0)
    flipped = cutouts(canvas, 16, boxes, shifts, 6, 16, 0.5, flips=torch.tensor([True, False, False, True]))
    assert torch.equal(flipped[0], out[0].flip(-1)) and torch.equal(flipped[1], out[1])


def test_large_crops_read_a_box_filtered_level_and_keep_the_picture() -> None:
    """A crop four times the cut size is read from the canvas shrunk by 4 (box filter): the same
    picture as the antialiased resize of the crop, to the difference of the two filters."""
    assert mip_level(64, 16) == 2 and mip_level(63, 16) == 1 and mip_level(10, 16) == 0
    yy, xx = torch.meshgrid(torch.linspace(0, 3, 96), torch.linspace(0, 3, 96), indexing="ij")
    smooth = torch.stack([yy.sin(), xx.cos(), (yy + xx).sin()])[None]  # a picture, not noise
    out = cutouts(smooth, 16, torch.tensor([[0.0, 0.0, 64.0]]), torch.zeros(1, 2, dtype=torch.long), 0, 16, 1.0)
    m = resize_matrix(64, 16, "bilinear", antialias=True)
    reference = m @ smooth[0, :, 16:80, 16:80] @ m.T
    assert (out[0] - reference).abs().max() < 0.02


def test_draws_are_shaped_bounded_and_depend_on_seed_and_step_only() -> None:
    aug = Cutouts(cut_size=16, min_fraction=0.25, batch_size=64, jitter=Constant(4), color_shift=Constant(0.1), noise=Constant(0.1))
    s = aug.strengths(0, 10, max_shift=8)
    d = aug.draw(2, 48, s, step_generator(3, 5, "cpu"), "cpu")
    assert isinstance(d, CutoutDraws) and d.reach == 4
    assert d.boxes.shape == (128, 3) and d.noise.shape == (128, 3, 16, 16) and d.flips.shape == (128,)
    top, left, side = d.boxes.unbind(1)
    assert (side >= 0.25 * 48 - 1e-4).all() and (side <= 48).all()
    assert (top >= 0).all() and (left >= 0).all() and (top + side <= 48 + 1e-4).all() and (left + side <= 48 + 1e-4).all()
    assert side.min() < 0.35 * 48 and side.max() > 0.85 * 48  # the whole range is used
    again = aug.draw(2, 48, s, step_generator(3, 5, "cpu"), "cpu")
    other = aug.draw(2, 48, s, step_generator(3, 6, "cpu"), "cpu")
    assert torch.equal(d.boxes, again.boxes) and torch.equal(d.noise, again.noise) and torch.equal(d.shifts, again.shifts)
    assert not torch.equal(d.boxes, other.boxes)
    canvas = torch.randn(2, 3, 64, 64)
    a, b = aug.apply(canvas, 8, d), aug.apply(canvas, 8, again)
    assert a.shape == (128, 3, 16, 16) and torch.equal(a, b)


def test_gradient_reaches_every_canvas_pixel_within_jitter_reach_over_some_steps() -> None:
    aug = Cutouts(cut_size=8, min_fraction=0.3, batch_size=8, jitter=Constant(4), color_shift_enabled=False, noise_enabled=False)
    canvas = torch.randn(1, 3, 32, 32, requires_grad=True)
    for step in range(60):
        draws = aug.draw(1, 24, aug.strengths(step, 60, max_shift=4), step_generator(0, step, "cpu"), "cpu")
        aug.apply(canvas, 4, draws).pow(2).sum().backward()
        if step == 5:  # the visible image at once; the margin's corners need a crop in the corner and the largest jitter together
            assert (canvas.grad[0, :, 4:28, 4:28].abs().sum(0) > 0).all()
    assert (canvas.grad.abs().sum(0) > 0).all()


def test_no_copy_is_ever_made_at_the_full_visible_size() -> None:
    """Every tensor kept for the backward pass is either canvas-sized (once per step) or a
    bounded multiple of cut_size^2 per copy: nothing per copy grows with the canvas."""
    aug = Cutouts(cut_size=16, min_fraction=0.5, batch_size=8)
    canvas = torch.randn(1, 3, 512, 512, requires_grad=True)
    visible, copies = 256, 8
    saved: list[int] = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel())
        return t

    draws = aug.draw(1, visible, aug.strengths(0, 10, max_shift=128), step_generator(0, 0, "cpu"), "cpu")
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        out = aug.apply(canvas, 128, draws)
    assert out.shape == (copies, 3, 16, 16)
    # The level read holds (V + 2 * jitter) / 2**L < 2 * cut / min_fraction * canvas / visible px a side: A @ level is cut x that per copy.
    per_copy_bound = 3 * 16 * (2 * 16 / 0.5) * (512 / visible)
    assert max(saved) <= copies * per_copy_bound
    assert sum(saved) < copies * 3 * visible * visible / 4  # a quarter of one set of full-size copies, all saved tensors together


def test_bad_arguments_are_one_sentence() -> None:
    with pytest.raises(ValueError, match=r"^cutouts cut_size must be a whole number from 8 to 4096 \(px: the scorer's input side"):
        Cutouts(cut_size=4)
    for size in (10**9, 224.0, True):
        with pytest.raises(ValueError, match=r"cut_size must be a whole number from 8 to 4096"):
            Cutouts(cut_size=size)
    for fraction in (1.5, 0, 1e-300, float("nan")):
        with pytest.raises(ValueError, match=r"^cutouts min_fraction must be a number from 0.01 to 1 \(the smallest crop's share"):
            Cutouts(min_fraction=fraction)
    with pytest.raises(ValueError, match=r"augment batch_size must be at most 4096 copies per image per step"):
        Cutouts(batch_size=10**6)
    with pytest.raises(TypeError, match="needs the CutoutDraws"):
        Cutouts().apply(torch.zeros(1, 3, 32, 32), 4, Cutouts.__mro__[1]().draw(1, 24, Cutouts().strengths(0, 2, 4), step_generator(0, 0, "cpu"), "cpu"))


def test_a_step_scores_the_crops_and_every_term_reads_them() -> None:
    """DirectAscent hands the crops to the scorer and to StepContext; the regularisers in the
    original units read ctx.scorer_input, which is the crops at the scorer's side."""
    from dasag import DirectAscent, ImagePyramid, Objective
    from dasag.objective.base import StepContext
    from dasag.run.data import PromptSet
    from dasag.run.plan import StepPlan
    from dasag.scorers import EfficientNetLite

    torch.manual_seed(0)
    aug = Cutouts(cut_size=32, batch_size=3)
    model = DirectAscent(ImagePyramid(max_size=128, max_shift=16), EfficientNetLite("lite0", input_size=32), augment=aug,
                         objective=Objective(tv_weight=0.5, l1_weight=0.1), seed=0)
    model.use_prompts(PromptSet(("goldfish",), ()))
    plan = StepPlan(step=0, strengths=aug.strengths(0, 10, model.pyramid.max_shift))
    canvas, copies = model.render_and_augment(plan)
    assert copies.shape == (3, 3, 32, 32)
    ctx = StepContext(model.score(copies, 0), model.pyramid.crop(canvas), 0, 10, model.scorer, copies)
    assert ctx.scorer_input.shape == (3, 3, 32, 32) and ctx.images.shape == (1, 3, 96, 96)
    terms = model.objective(ctx)
    assert {"tv", "l1", "lite0/positive"} <= set(terms.values) and torch.isfinite(terms.loss).all()
    terms.loss.sum().backward()
    assert all(level.grad is not None and level.grad.abs().sum() > 0 for level in model.pyramid.levels)


def test_drawing_and_applying_cutouts_never_reads_a_value_back_to_the_host() -> None:
    """On a GPU each read-back stalls the step: crop sizes, the box-filter level and the region
    read are decided from the settings and the jitter strength, never from the draws."""
    from dasag.run.speed_switches import HostSyncCounter

    aug = Cutouts(cut_size=16, min_fraction=0.25, batch_size=4, rotation_enabled=True)
    canvas = torch.randn(2, 3, 128, 128, requires_grad=True)
    with HostSyncCounter() as counter:
        draws = aug.draw(2, 96, aug.strengths(3, 10, max_shift=16), step_generator(0, 3, "cpu"), "cpu")
        aug.apply(canvas, 16, draws).sum().backward()
    assert counter.calls == []


def test_cutouts_refuse_the_everyday_edits_which_act_on_whole_copies() -> None:
    for name, value in (("shrink_enabled", True), ("jpeg_enabled", True), ("shrink", 2.0), ("jpeg_quality", 50.0)):
        with pytest.raises(ValueError, match=f"cutouts take no {name}: the everyday edits act on whole copies"):
            Cutouts(**{name: value})
    assert Cutouts(shrink_enabled=False).copies == 8  # the default passes, as a parser hands it
