"""How an image looks in two numbers: RMS contrast and Hasler and Süsstrunk's colourfulness, against their closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from dasag.image.stats import colourfulness, rms_contrast


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
