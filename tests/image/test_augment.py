import pytest
import torch

from dasag.core.schedules import Constant
from dasag.image.augment import Augmentations, Strengths, jitter_crop, step_generator


def test_jitter_crop_is_roll_then_crop_for_every_copy():
    canvas = torch.randn(5, 3, 16, 16)
    shifts = torch.tensor([[0, 0], [3, -2], [-3, 3], [1, 1], [-2, 0]])
    out = jitter_crop(canvas, 3, shifts)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        expected = torch.roll(canvas[i], shifts=(dy, dx), dims=(1, 2))[:, 3:13, 3:13]
        assert torch.equal(out[i], expected)


def test_jitter_crop_of_repeated_copies_gathers_from_the_unrepeated_canvas():
    canvas = torch.randn(2, 3, 16, 16, requires_grad=True)
    shifts = torch.tensor([[0, 0], [3, -2], [-3, 3], [1, 1], [-2, 0], [2, 3]])
    out = jitter_crop(canvas, 3, shifts, copies=3)
    assert out.shape == (6, 3, 10, 10) and out.is_contiguous(memory_format=torch.channels_last)
    reference = jitter_crop(canvas.repeat_interleave(3, dim=0), 3, shifts)
    assert torch.equal(out, reference)
    # The backward (one index_add) equals the gradient through repeat + gather.
    g = torch.randn(out.shape)
    (grad,) = torch.autograd.grad(out, canvas, g)
    (expected,) = torch.autograd.grad(reference, canvas, g)
    torch.testing.assert_close(grad, expected)
    with pytest.raises(ValueError, match=r"one \(dy, dx\) per copy, shape \(6, 2\)"):
        jitter_crop(canvas, 3, shifts[:4], copies=3)


def test_every_copy_gets_its_own_augmentation_and_draws_depend_on_seed_and_step():
    aug = Augmentations(batch_size=6, jitter=Constant(4), color_shift=Constant(0.2), noise=Constant(0.1))
    canvas = torch.randn(2, 3, 24, 24)
    s = aug.strengths(0, 10, max_shift=4)
    assert s == Strengths(jitter=4, color_shift=0.2, noise=0.1)
    a = aug(canvas, 4, s, step_generator(7, 3, "cpu"))
    b = aug(canvas, 4, s, step_generator(7, 3, "cpu"))
    c = aug(canvas, 4, s, step_generator(7, 4, "cpu"))
    assert a.shape == (12, 3, 16, 16)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # copies of the same image differ from each other
    assert not torch.allclose(a[0], a[1])


def test_switches_and_zero_strength_leave_the_crop_untouched():
    aug = Augmentations(batch_size=2, jitter_enabled=False, color_shift_enabled=False, noise_enabled=False, single_copy_when_off=False)
    s = aug.strengths(0, 10, max_shift=4)
    assert s == Strengths(0, 0.0, 0.0)
    canvas = torch.randn(1, 3, 16, 16)
    out = aug(canvas, 4, s, step_generator(0, 0, "cpu"))
    assert out.shape[0] == 2 and torch.equal(out[0], canvas[0, :, 4:12, 4:12]) and torch.equal(out[1], out[0])


def test_every_augmentation_off_scores_one_copy_per_image():
    """DAS-AG v2 scored a batch of 1 without augmentations: identical copies add cost, not signal."""
    canvas = torch.randn(2, 3, 16, 16)
    off = {"jitter_enabled": False, "color_shift_enabled": False, "noise_enabled": False}
    single = Augmentations(batch_size=8, **off)
    assert single.copies == 1
    out = single(canvas, 4, single.strengths(0, 10, 4), step_generator(0, 0, "cpu"))
    assert out.shape == (2, 3, 8, 8) and torch.equal(out, canvas[:, :, 4:12, 4:12])
    assert Augmentations(batch_size=8, **off, single_copy_when_off=False).copies == 8
    assert Augmentations(batch_size=8, **{**off, "noise_enabled": True}).copies == 8  # one augmentation on: all copies


def test_jitter_reaches_zero_or_stops_short_as_in_das_ag_v2():
    """The original's curve: int((0 - 128) * 0.97^(T - t) + 128 + 128 * 0.97^T) at t = T - 1 with T = 100 (t / T)."""
    ours = Augmentations()
    original = Augmentations(jitter_reaches_zero=False)
    assert ours.strengths(99, 100, max_shift=128).jitter == 0
    expected = int(-128 * 0.97 ** (99 - 99) + 128 + 128 * 0.97**99)  # our T is the last step, 99
    assert original.strengths(99, 100, max_shift=128).jitter == expected == 6
    # under the original's time base the run is evaluated as one step longer (T = 100): 9 px at the end
    assert original.strengths(99, 101, max_shift=128).jitter == int(-128 * 0.97 ** (100 - 99) + 128 + 128 * 0.97**100) == 9


def test_default_jitter_anneals_margin_to_zero_and_is_clipped_to_margin():
    aug = Augmentations()
    assert aug.strengths(0, 50, max_shift=32).jitter == 32
    assert aug.strengths(49, 50, max_shift=32).jitter == 0
    big = Augmentations(jitter=Constant(100))
    assert big.strengths(0, 50, max_shift=8).jitter == 8


def test_augmentations_are_differentiable():
    canvas = torch.randn(1, 3, 16, 16, requires_grad=True)
    aug = Augmentations(batch_size=4, jitter=Constant(2), color_shift=Constant(0.1), noise=Constant(0.1))
    out = aug(canvas, 2, aug.strengths(0, 5, 2), step_generator(1, 1, "cpu"))
    out.sum().backward()
    assert canvas.grad is not None and canvas.grad.abs().sum() > 0


def test_draw_then_apply_is_the_call_and_apply_compiles_once_for_every_strength():
    """Only ``apply`` is compiled: it sees tensors only, so annealed strengths never recompile it."""
    from torch._dynamo.testing import CompileCounter

    aug = Augmentations(batch_size=3, jitter=Constant(4), color_shift=Constant(0.2), noise=Constant(0.1))
    canvas = torch.randn(2, 3, 24, 24)
    s = aug.strengths(0, 10, max_shift=4)
    draws = aug.draw(2, 16, s, step_generator(5, 1, "cpu"), "cpu")
    assert torch.equal(aug.apply(canvas, 4, draws), aug(canvas, 4, s, step_generator(5, 1, "cpu")))

    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = torch.compile(aug.apply, backend=counter, dynamic=False)
    for step, strengths in enumerate([Strengths(4, 0.2, 0.1), Strengths(2, 0.05, 0.4), Strengths(1, 0.3, 0.25)]):
        draws = aug.draw(2, 16, strengths, step_generator(5, step, "cpu"), "cpu")
        assert torch.equal(compiled(canvas, 4, draws), aug.apply(canvas, 4, draws))
    assert counter.frame_count == 1  # one graph, no recompile, no graph break
    torch._dynamo.reset()


def test_zoom_and_flip_are_exact_at_their_neutral_values_and_mirror_and_magnify() -> None:
    from dasag.image.augment import zoom_and_flip, zoom_matrices

    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    assert torch.allclose(zoom_matrices(torch.ones(2), 8), torch.eye(8).expand(2, 8, 8))
    flipped = zoom_and_flip(x, None, torch.tensor([True, False]))
    assert torch.equal(flipped[0], x[0].flip(-1)) and torch.equal(flipped[1], x[1])
    square = torch.zeros(1, 1, 16, 16)
    square[..., 6:10, 6:10] = 1.0  # a 4 px square in the middle
    bigger = zoom_and_flip(square, torch.tensor([2.0]), None)
    smaller = zoom_and_flip(square, torch.tensor([0.5]), None)
    assert float(bigger.sum()) == pytest.approx(4 * float(square.sum()), rel=0.15) and smaller[..., 6:10, 6:10].sum() < square.sum()
    rows = zoom_matrices(torch.tensor([0.5]), 16)[0]
    assert torch.allclose(rows.sum(dim=1), torch.ones(16))  # every output pixel is a weighted average: edges reflected, not black


def test_zoom_and_flip_are_seeded_batched_and_off_by_default() -> None:
    from dasag.image.augment import Augmentations, step_generator

    aug = Augmentations(batch_size=4, zoom_enabled=True, flip_enabled=True)
    strengths = aug.strengths(0, 10, 8)
    assert strengths.zoom == pytest.approx(0.1) and strengths.flip == pytest.approx(0.5)
    canvas = torch.rand(2, 3, 32, 32) * 2 - 1
    a = aug(canvas, 8, strengths, step_generator(0, 3, "cpu"))
    b = aug(canvas, 8, strengths, step_generator(0, 3, "cpu"))
    assert a.shape == (8, 3, 16, 16) and torch.equal(a, b)
    draws = aug.draw(2, 16, strengths, step_generator(0, 3, "cpu"), "cpu")
    assert draws.zooms.shape == (8,) and bool(((draws.zooms >= 1 / 1.1) & (draws.zooms <= 1.1)).all())
    plain = Augmentations(batch_size=4)
    assert plain.strengths(0, 10, 8).zoom == 0.0 and plain.draw(2, 16, plain.strengths(0, 10, 8), step_generator(0, 3, "cpu"), "cpu").zooms is None
    with pytest.raises(ValueError, match="flip is a probability"):
        Augmentations(flip=1.5)


def test_rotation_is_exact_at_zero_and_at_right_angles_and_keeps_the_picture_inside() -> None:
    from dasag.image.augment import rotate

    x = torch.rand(3, 2, 9, 9)
    assert torch.allclose(rotate(x, torch.zeros(3)), x, atol=1e-6)
    quarter = rotate(x, torch.tensor([90.0, -90.0, 180.0]))
    assert torch.allclose(quarter[0], x[0].rot90(1, dims=(-2, -1)), atol=1e-5)  # counter-clockwise
    assert torch.allclose(quarter[1], x[1].rot90(-1, dims=(-2, -1)), atol=1e-5)
    assert torch.allclose(quarter[2], x[2].rot90(2, dims=(-2, -1)), atol=1e-5)
    flat = torch.full((1, 3, 16, 16), 0.7)
    assert torch.allclose(rotate(flat, torch.tensor([10.0])), flat)  # corners reflected, never black
    small = rotate(x, torch.tensor([5.0, 5.0, 5.0]))
    assert 0 < float((small - x).abs().mean()) < float((quarter[2] - x).abs().mean())
    grad_in = x.clone().requires_grad_(True)
    rotate(grad_in, torch.tensor([10.0, -7.0, 3.0])).sum().backward()
    assert grad_in.grad is not None and float(grad_in.grad.sum()) == pytest.approx(x.numel(), rel=1e-4)


def test_rotation_is_seeded_off_by_default_and_last_in_the_draw_order() -> None:
    from dasag.image.augment import Augmentations, step_generator

    aug = Augmentations(batch_size=4, zoom_enabled=True, rotation=8.0, rotation_enabled=True)
    strengths = aug.strengths(0, 10, 8)
    assert strengths.rotation == pytest.approx(8.0)
    draws = aug.draw(2, 16, strengths, step_generator(0, 3, "cpu"), "cpu")
    assert draws.angles.shape == (8,) and float(draws.angles.abs().max()) <= 8.0 and float(draws.angles.std()) > 0
    without = Augmentations(batch_size=4, zoom_enabled=True)
    before = without.draw(2, 16, without.strengths(0, 10, 8), step_generator(0, 3, "cpu"), "cpu")
    assert before.angles is None and torch.equal(before.zooms, draws.zooms)  # earlier draws unchanged
    canvas = torch.rand(2, 3, 32, 32) * 2 - 1
    a = aug(canvas, 8, strengths, step_generator(0, 3, "cpu"))
    assert torch.equal(a, aug(canvas, 8, strengths, step_generator(0, 3, "cpu")))
    assert not torch.equal(a, without(canvas, 8, without.strengths(0, 10, 8), step_generator(0, 3, "cpu")))
    with pytest.raises(ValueError, match="rotation"):
        Augmentations(rotation=-1.0)


def test_grey_scales_pull_each_copy_towards_mid_grey_by_its_factor() -> None:
    off = {"jitter_enabled": False, "color_shift_enabled": False, "noise_enabled": False}
    aug = Augmentations(batch_size=4, grey_scales=[1, 0.5, 0.25], **off)
    assert aug.copies == 4  # copies differ now, so all of them are scored
    canvas = torch.randn(2, 3, 8, 8, requires_grad=True)
    out = aug(canvas, 0, aug.strengths(0, 10, 0), step_generator(0, 0, "cpu"))
    for image in range(2):
        for k, factor in enumerate([1, 0.5, 0.25, 1]):  # the factors repeat within each image's copies
            torch.testing.assert_close(out[4 * image + k], canvas[image] * factor)
    out.sum().backward()
    torch.testing.assert_close(canvas.grad, torch.full_like(canvas, 2.75))  # 1 + 0.5 + 0.25 + 1
    for bad in ([], [0.0], [1.5], [1, 1, 1, 1, 1], [True]):
        with pytest.raises(ValueError, match=r"grey_scales must be 1 to batch_size \(4\) factors, each in \(0, 1\]"):
            Augmentations(batch_size=4, grey_scales=bad)


# ---------------------------------------------------------------- the everyday edits as augmentations

def _photograph(side: int = 192) -> torch.Tensor:
    """(1, 3, side, side) in [-1, 1]: the centre of scikit-image's astronaut photograph (fine detail and large shapes)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    image = Image.fromarray(skimage.data.astronaut()).resize((side, side), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1


def _to_pil(x: torch.Tensor):
    from PIL import Image

    return Image.fromarray(((x[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy())


def test_the_round_trip_matrix_is_the_everyday_edits_half_size_and_back() -> None:
    import numpy as np

    from dasag.image.augment import round_trip_matrix
    from dasag.quality.edits import resize_round_trip

    x = _photograph()
    r = round_trip_matrix(192, 96)
    ours = _to_pil(r @ x @ r.T)
    theirs = resize_round_trip(_to_pil(x))  # Pillow, bicubic both ways
    error = np.abs(np.asarray(ours, float) - np.asarray(theirs, float)).mean()
    untouched = np.abs(np.asarray(_to_pil(x), float) - np.asarray(theirs, float)).mean()
    assert error < 0.25 * untouched and error < 2.5  # within a few grey levels of Pillow's, far from the original
    assert torch.equal(round_trip_matrix(192, 192), torch.eye(192))


def test_jpeg_like_is_close_to_pillows_jpeg_and_passes_the_gradient_straight_through() -> None:
    import io

    import numpy as np
    from PIL import Image

    from dasag.image.augment import jpeg_like

    x = _photograph(200)  # not a multiple of 16: padded and cropped back
    for quality in (30, 75, 95):
        buffer = io.BytesIO()
        _to_pil(x).save(buffer, format="JPEG", quality=quality)
        with Image.open(buffer) as decoded:
            theirs = np.asarray(decoded.convert("RGB"), float)
        ours = np.asarray(_to_pil(jpeg_like(x, torch.tensor([float(quality)]))), float)
        error, untouched = np.abs(ours - theirs).mean(), np.abs(np.asarray(_to_pil(x), float) - theirs).mean()
        assert ours.shape == theirs.shape and error < 0.4 * untouched, quality
    x = x.repeat(2, 1, 1, 1).requires_grad_()
    out = jpeg_like(x, torch.tensor([40.0, 100.0]))
    assert (out[0] - x[0]).abs().mean() > 3 * (out[1] - x[1]).abs().mean()  # the lower quality loses more
    # the rounding is the identity backwards and the colour transforms invert each other, so a gradient
    # that is the same everywhere arrives unchanged (the padded border aside)
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
    torch.testing.assert_close(grad[..., 8:-16, 8:-16], torch.ones_like(grad[..., 8:-16, 8:-16]), atol=1e-4, rtol=1e-4)


def test_the_edits_are_off_by_default_and_leave_every_earlier_draw_and_copy_as_it_was() -> None:
    canvas = torch.rand(2, 3, 48, 48) * 2 - 1
    settings = {"batch_size": 4, "zoom_enabled": True, "flip_enabled": True}
    plain = Augmentations(**settings)
    strengths = plain.strengths(0, 10, 8)
    assert strengths.shrink == 0 and strengths.jpeg_quality == 0
    before = plain.draw(2, 32, strengths, step_generator(1, 2, "cpu"), "cpu")
    assert before.shrinks is None and before.shrink_bank is None and before.qualities is None
    edited = Augmentations(**settings, shrink_enabled=True, jpeg_enabled=True)
    after = edited.draw(2, 32, edited.strengths(0, 10, 8), step_generator(1, 2, "cpu"), "cpu")
    for name in ("shifts", "scale", "offset", "noise", "zooms", "flips"):
        assert torch.equal(getattr(before, name), getattr(after, name)), name
    assert after.shrinks.shape == (8,) and after.qualities.shape == (8,)
    assert float(after.qualities.min()) >= 75 and float(after.qualities.max()) <= 100
    copies = edited.apply(canvas, 8, after)
    assert copies.shape == (8, 3, 32, 32) and not torch.equal(copies, plain.apply(canvas, 8, before))
    assert torch.equal(copies, edited(canvas, 8, edited.strengths(0, 10, 8), step_generator(1, 2, "cpu")))  # seeded by (seed, step)
    only_jpeg = Augmentations(batch_size=3, jitter_enabled=False, color_shift_enabled=False, noise_enabled=False, jpeg_enabled=True)
    assert only_jpeg.copies == 3  # each copy meets its own quality: all are scored


def test_shrink_levels_are_quarter_octaves_up_to_the_strength_and_copies_lose_their_fine_scale() -> None:
    from dasag.image.augment import shrink_bank, shrink_levels
    from dasag.image.stats import fine_share

    assert [shrink_levels(s) for s in (0.0, 0.18, 0.19, 1.0, 3.0, 15.0)] == [1, 1, 2, 5, 9, 17]
    bank = shrink_bank(64, 5)
    assert bank.shape == (5, 64, 64) and torch.equal(bank[0], torch.eye(64))
    x = _photograph(64)
    shares = [float(fine_share((r @ x @ r.T).mean(1))) for r in bank]
    assert all(a > b for a, b in zip(shares, shares[1:]))  # each quarter octave keeps less fine detail
    aug = Augmentations(batch_size=16, jitter_enabled=False, color_shift_enabled=False, noise_enabled=False, shrink_enabled=True, shrink=1.0)
    draws = aug.draw(1, 64, aug.strengths(0, 10, 0), step_generator(0, 0, "cpu"), "cpu")
    assert draws.shrink_bank.shape[0] == 5 and set(draws.shrinks.tolist()) <= set(range(5)) and len(set(draws.shrinks.tolist())) > 1
    canvas = x.clone().requires_grad_()
    copies = aug.apply(canvas, 0, draws)
    for k, level in enumerate(draws.shrinks.tolist()):
        r = bank[level]
        torch.testing.assert_close(copies[k], (r @ x[0] @ r.T), atol=1e-5, rtol=1e-5)
    copies.sum().backward()
    assert canvas.grad is not None and canvas.grad.abs().sum() > 0


def test_the_edits_strengths_can_be_scheduled_and_bad_ones_are_one_sentence() -> None:
    from dasag.core.schedules import Linear

    aug = Augmentations(shrink=Linear(start=3.0, end=0.0), shrink_enabled=True, jpeg_quality=Linear(start=40.0, end=90.0), jpeg_enabled=True)
    first, last = aug.strengths(0, 11, 8), aug.strengths(10, 11, 8)
    assert (first.shrink, first.jpeg_quality, last.shrink, last.jpeg_quality) == (3.0, 40.0, 0.0, 90.0)
    draws = aug.draw(1, 32, last, step_generator(0, 10, "cpu"), "cpu")
    assert draws.shrinks is None  # a strength of 0 draws nothing
    for bad, words in (({"shrink": -0.5}, r"shrink must stay within \[0, 15\]"), ({"shrink": 20.0}, r"shrink must stay within \[0, 15\]"),
                       ({"jpeg_quality": 0.0}, r"jpeg_quality must stay within \[1, 100\]"),
                       ({"jpeg_quality": 120}, r"jpeg_quality must stay within \[1, 100\]"),
                       ({"jpeg_quality": Linear(start=80.0, end=-5.0)}, r"jpeg_quality must stay within \[1, 100\].*reaches -5")):
        with pytest.raises(ValueError, match=words):
            Augmentations(**bad)
