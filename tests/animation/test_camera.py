"""The camera move between frames: identity, direction of each move, determinism, edges."""

from __future__ import annotations

import pytest
import torch

from dasag.animation.camera import Camera, move


def picture(size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_identity_returns_the_picture_bit_for_bit():
    x = picture()
    out = move(x, Camera())
    assert torch.equal(out, x) and out is not x
    assert torch.equal(move(x.unsqueeze(0), Camera(1.0, 0.0, (0.0, 0.0))), x.unsqueeze(0))


def test_whole_pixel_translation_moves_right_and_down():
    x = picture()
    out = move(x, Camera(translate=(3.0, 2.0)))
    # Content at (row, col) now sits at (row + 2, col + 3): whole pixels, so the same values.
    assert torch.allclose(out[:, 6:26, 7:27], x[:, 4:24, 4:24], atol=1e-4)
    assert not torch.allclose(out[:, 6:26, 7:27], x[:, 6:26, 7:27], atol=1e-2)


def test_rotation_is_counter_clockwise_as_displayed():
    x = torch.full((3, 33, 33), -1.0)
    x[:, 16, 26:30] = 1.0  # a bright mark right of the centre
    out = move(x, Camera(rotation=90.0))
    top, right = out[:, 3:7, 16].mean(), out[:, 16, 26:30].mean()
    assert top > 0.5 and right < -0.5  # the mark went up (counter-clockwise on screen)


def test_zoom_in_enlarges_the_centre():
    x = torch.full((3, 32, 32), -1.0)
    x[:, 14:18, 14:18] = 1.0  # a 4 px bright square in the middle
    out = move(x, Camera(zoom=2.0))
    assert (out[0] > 0).sum() > 2.5 * (x[0] > 0).sum()  # about 4x the area (bicubic edges blur a little)
    assert out[0, 16, 16] > 0.9


@pytest.mark.parametrize("camera", [Camera(zoom=0.7), Camera(rotation=33.0), Camera(translate=(9.5, -4.25)), Camera(1.1, -5.0, (2.0, 1.0))])
def test_moves_are_deterministic_finite_in_range_and_have_no_black_border(camera):
    x = picture(48, seed=1) * 0.5 + 0.3  # nothing near -1 (black) to start with
    a, b = move(x, camera), move(x.clone(), camera)
    assert torch.equal(a, b)
    assert torch.isfinite(a).all() and a.min() >= -1 and a.max() <= 1
    border = torch.cat([a[:, 0], a[:, -1], a[:, :, 0], a[:, :, -1]], dim=-1)
    assert border.min() > x.min() - 0.35  # reflected content (bicubic may overshoot a little), never a black fill
    assert a.shape == x.shape


def test_a_batch_moves_like_each_picture_alone():
    xs = torch.stack([picture(24, s) for s in range(3)])
    camera = Camera(1.05, 2.0, (1.0, 0.5))
    assert torch.allclose(move(xs, camera), torch.stack([move(x, camera) for x in xs]), atol=1e-6)


def test_camera_to_json_names_every_part():
    assert Camera(1.02, 0.5, (1, -2)).to_json() == {"zoom": 1.02, "rotation": 0.5, "translate": [1.0, -2.0]}
