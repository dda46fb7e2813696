"""How an image looks, in two numbers a benchmark can track: contrast and colourfulness.

Held-out accuracy says whether an image shows its class; it says nothing about whether the
image is washed out. These two standard measures do, on the 8-bit picture a user sees:

* RMS contrast: the standard deviation of the grey level (ITU-R 601 luma) in [0, 1]
  (Peli, "Contrast in complex images", JOSA A 1990). A flat grey image is 0; a photograph ~0.2-0.3.
* Colourfulness (Hasler and Süsstrunk, "Measuring colourfulness in natural images", SPIE
  2003): from the opponent channels rg = R - G and yb = (R + G) / 2 - B on the 0-255 scale,
  sqrt(std_rg² + std_yb²) + 0.3 sqrt(mean_rg² + mean_yb²). 0 is grey; ~30 "moderately", ~60
  "quite", ~80 "highly" colourful in their study.
"""

from __future__ import annotations

import numpy as np

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
