import pytest
import torch
import torch.nn.functional as F

from dasag.image.pyramid import PRESETS, ImagePyramid


def test_levels_are_powers_of_two_and_render_is_bounded():
    torch.manual_seed(0)
    p = ImagePyramid(max_size=64, max_shift=8, num_images=3)
    assert p.sizes == [1, 2, 4, 8, 16, 32, 64]
    img = p()
    assert img.shape == (3, 3, 48, 48)
    assert img.abs().max() <= 1
    assert p.canvas().shape == (3, 3, 64, 64)
    # seed formula: randn / s per level
    assert p.levels[-1].std().item() == pytest.approx(1 / 64, rel=0.2)


def test_presets_match_design():
    assert ImagePyramid.preset(384).visible_size == 384 and ImagePyramid.preset(384).max_size == 512
    p = ImagePyramid.preset(768)
    assert (p.max_size, p.max_shift, p.visible_size) == (1024, 128, 768)
    assert all(ImagePyramid.preset(size).visible_size == size for size in PRESETS)
    with pytest.raises(ValueError, match="preset output size must be one of"):
        ImagePyramid.preset(500)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
def test_from_image_then_render_gives_the_image_back(mode):
    p = ImagePyramid(max_size=32, max_shift=4, interpolation=mode)
    target = torch.rand(3, 24, 24) * 1.8 - 0.9
    p.set_image(target)
    assert torch.allclose(p()[0], target, atol=1e-5)


def test_init_from_image_file(tmp_path):
    from dasag.image.picture import write_png

    target = torch.rand(3, 24, 24) * 2 - 1
    write_png(tmp_path / "x.png", target)
    p = ImagePyramid(max_size=32, max_shift=4, init_image=str(tmp_path / "x.png"))
    # 8-bit quantisation is the only loss
    assert (p()[0] - target).abs().max() < 1 / 127.5 + 1e-4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_size": 300}, "power of two"),
        ({"max_size": 64, "max_shift": 32}, "max_shift"),
        ({"num_images": 0}, "num_images"),
        ({"interpolation": "area"}, "interpolation"),
    ],
)
def test_bad_arguments_are_one_sentence(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImagePyramid(**kwargs)


def test_dense_levels_may_end_at_any_side_as_the_original_das():
    """The original DAS: a level at every side from 1 to 336, a 224 px picture in a 56 px margin."""
    p = ImagePyramid(max_size=336, max_shift=56, level_step=1)
    assert p.sizes == list(range(1, 337)) and p.visible_size == 224 and p().shape == (1, 3, 224, 224)
    with pytest.raises(ValueError, match="power of two .* or with level_step any whole side"):
        ImagePyramid(max_size=336, max_shift=56)  # powers-of-two levels need a power-of-two canvas
    with pytest.raises(ValueError, match="any whole side from 2 to 16384 .*; got 20000"):
        ImagePyramid(max_size=20000, max_shift=0, level_step=1)


def test_render_is_the_mean_of_interpolated_levels_through_tanh():
    """The matrix-form render computes what the design says: bilinear-upsampled levels, averaged, tanh."""
    torch.manual_seed(0)
    p = ImagePyramid(max_size=32, max_shift=4, num_images=2)
    expected = torch.tanh(sum(F.interpolate(level, size=(32, 32), mode="bilinear", align_corners=False) for level in p.levels) / len(p.levels))
    got = p.canvas()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    got.square().sum().backward()
    grads = [level.grad.clone() for level in p.levels]
    p.zero_grad()
    expected = torch.tanh(sum(F.interpolate(level, size=(32, 32), mode="bilinear", align_corners=False) for level in p.levels) / len(p.levels))
    expected.square().sum().backward()
    for got_grad, level in zip(grads, p.levels):
        torch.testing.assert_close(got_grad, level.grad, rtol=1e-4, atol=1e-5)




def test_a_pyramid_too_large_for_the_memory_names_the_largest_that_fits() -> None:
    from dasag.image.pyramid import check_fits_in_memory, training_bytes

    assert training_bytes(512) < training_bytes(1024) < training_bytes(1024, num_images=2)
    check_fits_in_memory(1024, 1, 1, training_bytes(1024))  # exactly enough: allowed
    check_fits_in_memory(1024, 1, 1, None)  # the OS did not say: not refused
    check_fits_in_memory(100, 1, 1, 1)  # not a power of two: the constructor's own sentence says so, not this one
    with pytest.raises(ValueError, match=r"max_size 1024 with 2 image\(s\) needs at least .* allowed here: max_size up to 512\."):
        check_fits_in_memory(1024, 2, 1, training_bytes(1024))


def test_level_gains_start_from_the_same_noise_and_are_each_levels_learning_rate_under_adam() -> None:
    torch.manual_seed(0)
    plain = ImagePyramid(64, 8)
    torch.manual_seed(0)
    damped = ImagePyramid(64, 8, level_gains=[0.5, 0.25])
    assert damped.level_gains == [0.5, 0.25] and damped.gains.tolist() == [1, 1, 1, 1, 1, 0.5, 0.25]
    torch.testing.assert_close(damped(), plain(), rtol=0, atol=1e-6)  # the same first render
    target = torch.rand(1, 3, 48, 48) * 2 - 1
    moved = {}
    for name, pyramid in (("plain", plain), ("damped", damped)):
        start = [level.detach().clone() for level in pyramid.levels]
        optimiser = torch.optim.Adam(pyramid.parameters(), lr=0.01)
        ((pyramid() - target) ** 2).sum().backward()
        optimiser.step()
        gains = pyramid.gains if pyramid.gains is not None else torch.ones(len(start))
        # each level's change as the render sees it (its gain times its parameters' change)
        moved[name] = [float(g * (level.detach() - s).abs().max()) for g, level, s in zip(gains, pyramid.levels, start)]
    assert moved["plain"][-1] == pytest.approx(0.01, rel=1e-3) and moved["plain"][-2] == pytest.approx(0.01, rel=1e-3)
    assert moved["damped"][-1] == pytest.approx(0.0025, rel=1e-3) and moved["damped"][-2] == pytest.approx(0.005, rel=1e-3)
    assert moved["damped"][:-2] == pytest.approx(moved["plain"][:-2], rel=1e-3)  # the coarse levels as before


def test_a_start_image_renders_as_itself_with_level_gains() -> None:
    pyramid = ImagePyramid(32, 4, level_gains=[0.3], contrast=0.6)
    image = torch.rand(3, 24, 24) * 1.6 - 0.8
    pyramid.set_image(image)
    torch.testing.assert_close(pyramid()[0], image, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("gains", [[], [0.0], [1.5], [True], [0.5] * 9, "half"])
def test_bad_level_gains_are_one_sentence(gains) -> None:
    with pytest.raises(ValueError, match=r"pyramid level_gains must be 1 to 6 gains \(the finest levels', finest last\), each in \(0, 1\]"):
        ImagePyramid(32, 4, level_gains=gains)
