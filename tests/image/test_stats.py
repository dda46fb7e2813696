"""How an image looks in three numbers: RMS contrast and Hasler and Süsstrunk's colourfulness against their closed
forms, and the fine-scale share against gratings and its reference photographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dasag.image.stats import FINE_SCALE_CUTOFF, FINE_SCALE_SIDE, LUMA, colourfulness, fine_scale, fine_share, rms_contrast


def two_level(first: tuple[int, int, int], second: tuple[int, int, int], size: int = 8) -> np.ndarray:
    """An image whose left half is one colour and right half another: equal pixel counts of each."""
    image = np.empty((size, size, 3), np.uint8)
    image[:, : size // 2] = first
    image[:, size // 2 :] = second
    return image


def half_and_half(a: float, b: float) -> tuple[float, float]:
    """Mean and (population) standard deviation of a value that is ``a`` on half the pixels and ``b`` on the rest."""
    return (a + b) / 2, abs(a - b) / 2


def test_a_flat_grey_image_is_zero_for_both():
    grey = np.full((16, 16, 3), 128, np.uint8)
    assert rms_contrast(grey) == 0.0
    assert colourfulness(grey) == 0.0


def test_a_grey_image_has_no_colour_whatever_its_contrast():
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    assert colourfulness(ramp) == 0.0
    assert rms_contrast(ramp) > 0.0


def test_a_flat_colour_image_has_no_contrast():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    assert rms_contrast(red) == 0.0
    assert colourfulness(red) > 0.0  # its opponent means are far from grey


def test_contrast_of_black_and_white_halves_is_half_the_range():
    _, std = half_and_half(0.0, 1.0)
    assert rms_contrast(two_level((0, 0, 0), (255, 255, 255))) == pytest.approx(std)  # 0.5
    _, std = half_and_half(100 / 255, 140 / 255)
    assert rms_contrast(two_level((100,) * 3, (140,) * 3)) == pytest.approx(std)


def test_contrast_of_two_colours_follows_their_luma():
    first, second = (200, 30, 60), (10, 220, 90)
    luma = [(0.299 * r + 0.587 * g + 0.114 * b) / 255 for r, g, b in (first, second)]  # ITU-R 601
    _, std = half_and_half(*luma)
    assert rms_contrast(two_level(first, second)) == pytest.approx(std)


@pytest.mark.parametrize(("first", "second"), [((255, 0, 0), (0, 255, 0)), ((255, 0, 0), (255, 0, 0)), ((30, 40, 200), (250, 240, 10))])
def test_colourfulness_of_two_colours_has_its_closed_form(first, second):
    """M = sqrt(std_rg² + std_yb²) + 0.3 sqrt(mean_rg² + mean_yb²), rg = R - G, yb = (R + G) / 2 - B."""
    rg = [float(r - g) for r, g, _ in (first, second)]
    yb = [(r + g) / 2 - b for r, g, b in (first, second)]
    mean_rg, std_rg = half_and_half(*rg)
    mean_yb, std_yb = half_and_half(*yb)
    expected = (std_rg**2 + std_yb**2) ** 0.5 + 0.3 * (mean_rg**2 + mean_yb**2) ** 0.5
    assert colourfulness(two_level(first, second)) == pytest.approx(expected)


def test_a_colourful_image_scores_above_a_grey_one_and_a_saturated_one_above_a_washed_out_one():
    rng = np.random.default_rng(0)
    colourful = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    grey = np.repeat(colourful.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    washed_out = (128 + (colourful.astype(np.int16) - 128) // 4).astype(np.uint8)  # a quarter of the distance from mid grey
    assert colourfulness(colourful) > colourfulness(washed_out) > colourfulness(grey) == 0.0
    assert rms_contrast(colourful) > rms_contrast(washed_out)


def test_both_measures_are_free_of_the_images_size_and_layout():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    tiled = np.tile(image, (3, 2, 1))  # the same pixels, six times: a larger picture of the same look
    shuffled = rng.permutation(image.reshape(-1, 3)).reshape(image.shape)
    for measure in (rms_contrast, colourfulness):
        assert measure(tiled) == pytest.approx(measure(image))
        assert measure(shuffled) == pytest.approx(measure(image))


def test_contrast_grows_in_proportion_to_the_distance_from_mid_grey_and_ignores_inversion():
    low, high = two_level((118,) * 3, (138,) * 3), two_level((88,) * 3, (168,) * 3)  # 20 and 80 levels apart
    assert rms_contrast(high) == pytest.approx(4 * rms_contrast(low))
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert rms_contrast(255 - image) == pytest.approx(rms_contrast(image))


def test_both_return_plain_floats():
    image = two_level((0, 0, 0), (255, 128, 0))
    assert type(rms_contrast(image)) is float and type(colourfulness(image)) is float


# ---------------------------------------------------------------- fine-scale share

def grating(cycles_per_pixel: float, side: int = 256, angle: float = 0.0) -> np.ndarray:
    """A grey sinusoidal grating of one spatial frequency (an 8-bit RGB picture)."""
    y, x = np.mgrid[0:side, 0:side]
    phase = 2 * np.pi * cycles_per_pixel * (x * np.cos(angle) + y * np.sin(angle))
    grey = np.round(127.5 + 100 * np.sin(phase)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def test_a_flat_picture_has_no_fine_scale():
    assert fine_scale(np.full((40, 60, 3), 90, np.uint8)) == 0.0


@pytest.mark.parametrize("angle", [0.0, 0.7, np.pi / 2])
def test_a_grating_is_fine_or_coarse_by_its_frequency_against_a_quarter_of_nyquist(angle):
    """Power lands on one side of the cut-off (0.125 cycles per pixel at 256 px), whatever the direction."""
    assert fine_scale(grating(0.03, angle=angle)) < 0.02  # a period of 33 px: coarse
    assert fine_scale(grating(0.3, angle=angle)) > 0.97  # a period of 3.3 px: fine
    assert FINE_SCALE_CUTOFF == 0.125 and FINE_SCALE_SIDE == 256


def test_the_share_rises_with_the_weight_of_a_fine_grating_added_to_a_coarse_one():
    coarse = grating(0.02).astype(float)
    fine = grating(0.35).astype(float) - 127.5
    shares = [fine_scale(np.clip(coarse + k * fine, 0, 255).astype(np.uint8)) for k in (0.0, 0.2, 0.5)]
    assert shares[0] < shares[1] < shares[2]


def test_a_picture_of_the_measured_side_is_measured_as_it_is_and_others_are_resized_to_it():
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (FINE_SCALE_SIDE, FINE_SCALE_SIDE, 3), dtype=np.uint8)
    grey = torch.from_numpy(picture.astype(np.float64) @ LUMA / 255)
    assert fine_scale(picture) == pytest.approx(float(fine_share(grey)), rel=1e-12)
    # an enlarged copy is resized back to 256 px, so its share is close to the original's (not the
    # much lower share the enlargement itself would read at 512 px)
    big = np.array(Image.fromarray(picture).resize((512, 512), Image.Resampling.BICUBIC))
    assert abs(fine_scale(big) - fine_scale(picture)) < 0.1
    at_512 = torch.from_numpy(big.astype(np.float64) @ LUMA / 255)
    assert float(fine_share(at_512)) < fine_scale(big) - 0.15


def test_the_share_is_differentiable_for_a_loss_term():
    grey = torch.rand(2, 64, 64, dtype=torch.float64, requires_grad=True)
    share = fine_share(grey)
    assert share.shape == (2,) and torch.all((share > 0) & (share < 1))
    share.sum().backward()
    assert grey.grad is not None and grey.grad.abs().sum() > 0


def _photograph(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image.convert("RGB"))


def test_reference_values_on_photographs_of_objects_and_of_textures():
    """The module's reference values, on photographs that ship in the scikit-image and matplotlib wheels:
    objects in a scene 0.05-0.08, textures 0.39-0.57, a detailed street photograph 0.22."""
    import skimage.data
    from matplotlib import cbook

    root = Path(skimage.data.__file__).parent
    objects = {name: _photograph(str(root / name)) for name in ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg")}
    objects["grace_hopper.jpg"] = _photograph(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    textures = {name: _photograph(str(root / name)) for name in ("brick.png", "grass.png", "gravel.png")}
    for name, picture in objects.items():
        assert 0.05 <= round(fine_scale(picture), 2) <= 0.08, name
    for name, picture in textures.items():
        assert 0.39 <= round(fine_scale(picture), 2) <= 0.57, name
    assert round(fine_scale(_photograph(str(root / "motorcycle_left.png"))), 2) == 0.22
    assert max(fine_scale(p) for p in objects.values()) < 0.1 < 0.3 < min(fine_scale(p) for p in textures.values())
