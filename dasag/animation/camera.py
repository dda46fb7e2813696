"""The camera of an animation: one frame's move (zoom, rotation, translation) applied to a picture.

A zoom video is made by moving the previous frame a little and letting the ascent repaint
it: zooming in enlarges the centre and the optimiser invents the detail that was not there.
The move is one affine resampling (``F.grid_sample``, bicubic), so zoom, rotation and
translation blur the picture once per frame, not once each. Samples that fall outside the
picture (zooming out, turning, panning) are reflected back inside: the new border continues
the picture instead of being black, and the ascent repaints it. On the CPU the forward
resampling is deterministic, so a frame's start image is a pure function of the previous
frame's bytes and the camera.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Camera:
    """One frame's move, relative to the previous frame."""

    #: Magnification per frame: above 1 zooms in (the centre grows), below 1 zooms out.
    zoom: float = 1.0
    #: Turn per frame in degrees, counter-clockwise as displayed.
    rotation: float = 0.0
    #: Shift per frame in px of the visible image: (right, down).
    translate: tuple[float, float] = (0.0, 0.0)

    @property
    def is_identity(self) -> bool:
        return self.zoom == 1.0 and self.rotation == 0.0 and tuple(self.translate) == (0.0, 0.0)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["translate"] = [float(t) for t in self.translate]
        return d


def sample_grid(camera: Camera, size: int, device: torch.device | str = "cpu") -> Tensor:
    """(1, size, size, 2) sampling positions for ``F.grid_sample`` (``align_corners=False``).

    Output pixel p (about the centre) shows the input at ``R(-angle) (p - t) / zoom``: the
    picture is scaled by ``zoom``, turned by ``angle`` and then moved by ``t``. Positions are
    computed in float64 and rounded once, so the identity move lands exactly on pixel centres.
    """
    theta = math.radians(camera.rotation)
    cos, sin = math.cos(theta), math.sin(theta)
    dx, dy = (float(t) for t in camera.translate)
    centre = (size - 1) / 2
    coords = torch.arange(size, dtype=torch.float64, device=device) - centre
    yy, xx = coords[:, None], coords[None, :]
    px, py = xx - dx, yy - dy
    # Undo a counter-clockwise turn as displayed (y points down): rotate the offset clockwise.
    src_x = (cos * px - sin * py) / camera.zoom + centre
    src_y = (sin * px + cos * py) / camera.zoom + centre
    # Pixel centre i is at (2i + 1) / size - 1 in grid_sample's normalised coordinates.
    grid = torch.stack([(2 * src_x + 1) / size - 1, (2 * src_y + 1) / size - 1], dim=-1)
    return grid.unsqueeze(0).float()


def move(image: Tensor, camera: Camera) -> Tensor:
    """``image`` (3, V, V) or (N, 3, V, V) in [-1, 1] moved by ``camera``, same shape, in [-1, 1].

    The identity move returns the picture unchanged (bit for bit); any other move is bicubic
    with reflected edges, clamped back to [-1, 1] (bicubic overshoots at sharp edges).
    """
    if image.shape[-1] != image.shape[-2]:
        raise ValueError(f"the camera moves square pictures; got {tuple(image.shape[-2:])}.")
    if camera.is_identity:
        return image.clone()
    batched = image.dim() == 4
    x = image if batched else image.unsqueeze(0)
    grid = sample_grid(camera, x.shape[-1], x.device).to(x.dtype).expand(x.shape[0], -1, -1, -1)
    out = F.grid_sample(x, grid, mode="bicubic", padding_mode="reflection", align_corners=False).clamp(-1, 1)
    return out if batched else out[0]
