"""Regenerate the pictures the shipped configs name, under dasag/configs/assets/ (deterministic).

    python examples/make_example_images.py

* ``assets/style/*.png``: four "stained glass" pictures (random Voronoi cells in saturated
  colours with dark lead lines), the image set a personal aesthetic embedding is made from.
* ``assets/images/portrait.png``: Grace Hopper's portrait (US Navy photograph, public
  domain), as shipped in matplotlib's sample data, centre-cropped to 128 px.
* ``assets/images/mask_eyes.png``: a white band over the eyes = the region to inpaint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1] / "dasag" / "configs" / "assets"


def stained_glass(seed: int, size: int = 128, cells: int = 18) -> Image.Image:
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, (cells, 2))
    hues = rng.uniform(0, 1, cells)
    yy, xx = np.mgrid[0:size, 0:size]
    d = np.hypot(xx[..., None] - points[:, 0], yy[..., None] - points[:, 1])  # (H, W, cells)
    order = np.sort(d, axis=-1)
    nearest = d.argmin(axis=-1)
    hsv = np.stack([hues[nearest], np.full((size, size), 0.85), np.full((size, size), 0.95)], axis=-1)
    rgb = np.array(Image.fromarray((hsv * 255).astype(np.uint8), "HSV").convert("RGB"), dtype=np.float32)
    lead = (order[..., 1] - order[..., 0]) < 2.5  # near a cell border: dark lead line
    rgb[lead] = 25
    return Image.fromarray(rgb.astype(np.uint8))


def main() -> None:
    for i in range(4):
        stained_glass(seed=i).save(ROOT / "style" / f"stained_glass_{i}.png")
    import matplotlib.cbook as cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        w, h = im.size
        s = min(w, h)
        im.convert("RGB").crop(((w - s) // 2, 0, (w - s) // 2 + s, s)).resize((128, 128), Image.LANCZOS).save(ROOT / "images" / "portrait.png")
    mask = np.zeros((128, 128), np.uint8)
    mask[36:62, 32:96] = 255
    Image.fromarray(mask).save(ROOT / "images" / "mask_eyes.png")


if __name__ == "__main__":
    main()
