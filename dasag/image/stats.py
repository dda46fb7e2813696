"""How an image looks, in three numbers a benchmark can track: contrast, colourfulness and fine-scale share.

Held-out accuracy says whether an image shows its class; it says nothing about whether the
image is washed out or busy edge to edge. These standard measures do, on the 8-bit picture a user sees:

* RMS contrast: the standard deviation of the grey level (ITU-R 601 luma) in [0, 1]
  (Peli, "Contrast in complex images", JOSA A 1990). A flat grey image is 0; a photograph ~0.2-0.3.
* Colourfulness (Hasler and Süsstrunk, "Measuring colourfulness in natural images", SPIE
  2003): from the opponent channels rg = R - G and yb = (R + G) / 2 - B on the 0-255 scale,
  sqrt(std_rg² + std_yb²) + 0.3 sqrt(mean_rg² + mean_yb²). 0 is grey; ~30 "moderately", ~60
  "quite", ~80 "highly" colourful in their study.
* Fine-scale share: the share of the grey level's spectral power above a quarter of the Nyquist
  frequency, the picture resized to 256 x 256 px (bicubic) and seen through a 2-D Hann window
  (so its borders add no false edges), the mean removed. A photograph of objects in a scene has
  its power in large shapes; a texture, or an adversarial pattern, at fine scales. Reference
  values (``tests/image/test_stats.py`` checks them): photographs of objects shipped in the
  scikit-image wheel (astronaut, camera, chelsea, coffee, rocket) and matplotlib's
  ``grace_hopper.jpg`` read 0.05-0.08; its texture photographs (brick, grass, gravel) 0.39-0.57;
  a detailed street photograph (motorcycle_left) 0.22.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor

#: ITU-R 601 luma weights (what PIL's "L" mode uses).
LUMA = np.array([0.299, 0.587, 0.114])


def rms_contrast(rgb: np.ndarray) -> float:
    """(H, W, 3) uint8 -> the standard deviation of its grey level in [0, 1]."""
    grey = rgb.astype(np.float64) @ LUMA / 255.0
    return float(grey.std())


def colourfulness(rgb: np.ndarray) -> float:
    """(H, W, 3) uint8 -> Hasler and Süsstrunk's colourfulness M."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


#: The side every picture is resized to before its spectrum is taken, so pictures of any size compare.
FINE_SCALE_SIDE = 256
#: Fine scales start at a quarter of the Nyquist frequency: 0.125 cycles per pixel (a period under 8 px at 256 px).
FINE_SCALE_CUTOFF = 0.125


def fine_share(grey: Tensor) -> Tensor:
    """(..., H, W) grey levels -> (...): the share of spectral power above :data:`FINE_SCALE_CUTOFF`
    cycles per pixel, the mean removed and a 2-D Hann window applied; power at 0 cycles is left out.
    Differentiable, so a loss term can read the same quantity the benchmark reports."""
    h, w = grey.shape[-2:]
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=grey.dtype, device=grey.device),
                         torch.hann_window(w, periodic=False, dtype=grey.dtype, device=grey.device))
    centred = grey - grey.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.rfft2(centred * window).abs().pow(2)
    fy = torch.fft.fftfreq(h, device=grey.device, dtype=grey.dtype)[:, None]
    fx = torch.fft.rfftfreq(w, device=grey.device, dtype=grey.dtype)[None, :]
    # rfft2 keeps half the columns; every column but the first (and, for even w, the last) stands for two
    counts = torch.full((w // 2 + 1,), 2.0, dtype=grey.dtype, device=grey.device)
    counts[0] = 1.0
    if w % 2 == 0:
        counts[-1] = 1.0
    radius = torch.hypot(fy, fx)
    power = power * counts * (radius > 0).to(grey.dtype)  # the window leaves some power at 0 cycles: not a scale of the picture
    fine = (radius > FINE_SCALE_CUTOFF).to(grey.dtype)
    return (power * fine).sum(dim=(-2, -1)) / power.sum(dim=(-2, -1)).clamp_min(torch.finfo(grey.dtype).tiny)


def fine_scale(rgb: np.ndarray) -> float:
    """(H, W, 3) uint8 -> its fine-scale share (see the module): resized to 256 x 256 px (bicubic),
    the grey level taken with the luma weights; 0 for a flat picture."""
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if image.size != (FINE_SCALE_SIDE, FINE_SCALE_SIDE):
        image = image.resize((FINE_SCALE_SIDE, FINE_SCALE_SIDE), Image.Resampling.BICUBIC)
    grey = np.asarray(image, dtype=np.float64) @ LUMA / 255.0
    if np.ptp(grey) == 0:  # no scale at all: the ratio would be rounding noise over rounding noise
        return 0.0
    return float(fine_share(torch.from_numpy(grey)))
