"""Prompts in, picture out, in one call: :func:`generate`, for Python users.

    import dasag
    picture = dasag.generate("goldfish")            # the offline demo's settings, 60 steps on a CPU
    picture.write("goldfish.png")                   # the PNG carries its metadata, as every dasag picture does
    dasag.generate(["a castle | misty:0.5"], config="das_ag_plus", steps=100, seed=3).sheet   # (H, W, 3) uint8

It builds the run the way every command does (:func:`~dasag.run.build.build_run`), in deterministic
mode, writes nothing, and returns the picture as :func:`~dasag.run.picture.finished_picture` makes it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dasag.core.config import config_file, deep_merge, load_config
from dasag.run.build import QUIET_TRAINER, build_run
from dasag.run.data import inline_prompts
from dasag.run.picture import Picture


def generate(
    prompts: str | Sequence[str | dict[str, Any]],
    config: str | os.PathLike | dict[str, Any] = "demo",
    steps: int | None = None,
    seed: int = 0,
    negative: Sequence[str | dict[str, Any]] = (),
    overrides: dict[str, Any] | None = None,
) -> Picture:
    """Make a picture of ``prompts`` and return it (nothing is written).

    Args:
        prompts: one prompt or several, in any weighted form (``"a castle | misty:0.5"``, ``{text, weight}``,
            ``image:PATH``); ImageNet class names for a classifier guide.
        config: a shipped config's name (``"demo"``, ``"das_ag_plus"``), a config file, or a config mapping.
        steps: ascent steps (default: the config's ``trainer.max_steps``).
        seed: the run's seed; the same call gives the same picture.
        negative: prompts the picture is pushed away from.
        overrides: config values merged over ``config`` (``{"model": {"pyramid": {"init_args": {...}}}}``).

    Raises:
        ConfigError: one sentence, before any model loads, for anything that is not allowed.
    """
    if isinstance(config, dict):
        cfg = config
    else:
        path = config_file(config)
        cfg = inline_prompts(load_config(path), path)
    positive = [prompts] if isinstance(prompts, str) else list(prompts)
    cfg = deep_merge(cfg, {"seed_everything": seed, "data": {"positive_prompts": positive, "negative_prompts": list(negative)}})
    cfg = deep_merge(cfg, overrides or {})
    with tempfile.TemporaryDirectory(prefix="dasag-generate-") as root:
        trainer = {**QUIET_TRAINER, "default_root_dir": str(Path(root))}
        if steps is not None:
            trainer["max_steps"] = steps
        built = build_run(deep_merge(cfg, {"trainer": trainer}), load_weights=True)
        built.fit()
        return built.picture()
