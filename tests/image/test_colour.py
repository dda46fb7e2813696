"""The decorrelated colour basis and the dense level set of the pyramid."""

from __future__ import annotations

import pytest
import torch

from dasag.image.colour import colour_matrix, from_rgb, to_rgb
from dasag.image.pyramid import ImagePyramid, level_sizes


def test_the_decorrelated_basis_is_invertible_with_brightness_of_unit_length() -> None:
    m = colour_matrix("decorrelated")
    assert m.norm(dim=0).max() == pytest.approx(1.0) and m.norm(dim=0).min() < 0.2  # brightness axis 1, colour axes shorter
    x = torch.randn(2, 3, 5, 5)
    assert torch.allclose(from_rgb(to_rgb(x, m), m), x, atol=1e-5)
    assert torch.equal(colour_matrix("rgb"), torch.eye(3))
    with pytest.raises(ValueError, match="colour basis must be one of rgb, decorrelated; got 'lab'"):
        colour_matrix("lab")


def test_dense_levels_step_through_every_size_and_keep_the_canvas() -> None:
    assert level_sizes(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    dense = level_sizes(256, level_step=4)
    assert dense[:3] == [1, 5, 9] and dense[-2:] == [253, 256] and len(dense) == 65
    assert level_sizes(64, level_step=1) == list(range(1, 65))  # the original DAS: every side


@pytest.mark.parametrize("kw", [{"level_step": 4}, {"colour": "decorrelated"}, {"level_step": 8, "colour": "decorrelated"}])
def test_every_parameterisation_inverts_its_render_exactly_and_trains(kw) -> None:
    torch.manual_seed(0)
    pyramid = ImagePyramid(max_size=64, max_shift=8, **kw)
    image = torch.rand(3, 48, 48) * 1.6 - 0.8
    pyramid.set_image(image)
    assert torch.allclose(pyramid().detach()[0], image, atol=1e-5)
    pyramid().mean().backward()
    assert all(level.grad is not None and level.grad.abs().sum() > 0 for level in pyramid.levels)


def test_a_level_step_that_is_not_a_positive_integer_is_one_sentence() -> None:
    with pytest.raises(ValueError, match="level_step must be a positive integer"):
        ImagePyramid(max_size=64, max_shift=8, level_step=0)


def test_a_contrast_setting_fixes_each_images_pre_tanh_spread() -> None:
    torch.manual_seed(0)
    pyramid = ImagePyramid(max_size=64, max_shift=8, num_images=2, contrast=0.8)
    z = torch.atanh(pyramid.canvas().detach().clamp(-0.999999, 0.999999))
    assert torch.allclose(z.std(dim=(1, 2, 3)), torch.full((2,), 0.8), atol=1e-3)
    assert torch.allclose(z.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-4)
    with pytest.raises(ValueError, match="contrast must be a positive number"):
        ImagePyramid(max_size=64, max_shift=8, contrast=0.0)


@pytest.mark.parametrize("colour", ["rgb", "decorrelated"])
def test_with_contrast_a_start_image_renders_as_itself_and_keeps_its_own_spread(colour: str, in_repo) -> None:
    from dasag.image.masking import MaskedPyramid
    from dasag.image.picture import load_image

    pyramid = ImagePyramid(max_size=64, max_shift=8, contrast=0.5, colour=colour, init_image="assets/images/portrait.png")
    photo = load_image("assets/images/portrait.png", pyramid.visible_size)
    assert torch.allclose(pyramid()[0], photo.clamp(-1 + 1e-6, 1 - 1e-6), atol=2e-4)  # the render's exact inverse
    assert "tone" not in pyramid.state_dict()  # rebuilt from the config; checkpoints stay levels-only
    with torch.no_grad():  # after a step the spread is still the photograph's, not the 0.5 asked of a noise start
        for level in pyramid.levels:
            level.add_(torch.randn_like(level) * 0.05)
    z = torch.atanh(pyramid.canvas().clamp(-0.999999, 0.999999))
    assert float(z.std()) == pytest.approx(float(pyramid.tone[0, 1]), rel=1e-3) and abs(float(pyramid.tone[0, 1]) - 0.5) > 0.05
    masked = MaskedPyramid(init_image="assets/images/portrait.png", box=[0.25, 0.25, 0.75, 0.75], max_size=64, max_shift=8, contrast=0.5)
    assert torch.allclose(masked()[0], photo.clamp(-1 + 1e-6, 1 - 1e-6), atol=2e-4)
