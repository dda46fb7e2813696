"""Prompts in, picture out, in one call: :func:`generate`, for Python users.

    import dasag
    picture = dasag.generate("goldfish")            # the offline demo's settings, 60 steps on a CPU
    picture.write("goldfish.png")                   # the PNG carries its metadata, as every dasag picture does
    dasag.generate(["a castle | misty:0.5"], config="das_ag_plus", steps=100, seed=3).sheet   # (H, W, 3) uint8

It builds the run the way every command does (:func:`~dasag.run.build.build_run`), in deterministic
mode, writes nothing, and returns the picture as :func:`~dasag.run.picture.finished_picture` makes it.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dasag.core.config import config_file, deep_merge, load_config, merge_bases
from dasag.core.errors import ConfigError
from dasag.core.prompts import parse_entry
from dasag.core.ranges import STEPS
from dasag.run.build import QUIET_TRAINER, build_run
from dasag.run.data import inline_prompts
from dasag.run.picture import Picture


def generate(
    prompts: str | int | Mapping[str, Any] | Sequence[str | int | Mapping[str, Any]],
    config: str | os.PathLike | Mapping[str, Any] = "demo",
    steps: int | None = None,
    seed: int = 0,
    negative: str | int | Mapping[str, Any] | Sequence[str | int | Mapping[str, Any]] | None = (),
    overrides: Mapping[str, Any] | None = None,
) -> Picture:
    """Make a picture of ``prompts`` and return it (nothing is written).

    Args:
        prompts: one prompt or a list of them, in any weighted form (``"a castle | misty:0.5"``, ``{text, weight}``,
            ``image:PATH``); ImageNet class names or indices for a classifier guide.
        config: a shipped config's name (``"demo"``, ``"das_ag_plus"``), a config file, or a config mapping
            (its ``base:`` names files relative to the working folder, or shipped configs).
        steps: ascent steps (default: the config's ``trainer.max_steps``).
        seed: the run's seed; the same call gives the same picture.
        negative: a prompt or a list of prompts the picture is pushed away from.
        overrides: config values merged over ``config`` (``{"model": {"pyramid": {"init_args": {...}}}}``).

    Raises:
        ConfigError: one sentence, before any model loads, for anything that is not allowed.
    """
    positive, negatives = prompt_list(prompts, "prompts"), prompt_list(negative, "negative")
    seed, steps = whole_number(seed, "seed", 0, 2**32 - 1), None if steps is None else whole_number(steps, "steps", int(STEPS.low), int(STEPS.high))
    cfg = config_mapping(config)
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"overrides must be a mapping of config values merged over the config (e.g. {{'trainer': {{'max_steps': 30}}}}); "
                          f"got {type(overrides).__name__}.")
    cfg = deep_merge(cfg, {"seed_everything": seed, "data": {"positive_prompts": positive, "negative_prompts": negatives}})
    cfg = deep_merge(cfg, dict(overrides or {}))
    with tempfile.TemporaryDirectory(prefix="dasag-generate-") as root:
        trainer = {**QUIET_TRAINER, "default_root_dir": str(Path(root))}
        if steps is not None:
            trainer["max_steps"] = steps
        built = build_run(deep_merge(cfg, {"trainer": trainer}), load_weights=True)
        built.fit()
        return built.picture()


def prompt_list(value: Any, name: str) -> list[Any]:
    """``prompts`` or ``negative`` as the config's prompt list: one prompt (a text, an ImageNet class
    index, a ``{text, weight}`` mapping) or a list or tuple of them, each checked where it was given
    (a text is one prompt, never a sequence of letters); a ``None`` negative is none."""
    if value is None and name == "negative":
        return []
    entries = [value] if isinstance(value, (str, numbers.Integral, Mapping)) else value
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(f"{name} must be a prompt (a text such as 'a castle | misty:0.5', an ImageNet class index or a {{text, weight}} mapping) "
                          f"or a list of them; got {type(value).__name__}.")
    out = []
    for i, entry in enumerate(entries):
        where = name if entries is not value else f"{name}[{i}]"
        if isinstance(entry, Mapping):
            entry = dict(entry)
        elif isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
            entry = str(int(entry))  # an ImageNet class index, as the config's text lists hold it
        try:
            parse_entry(entry, where)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        out.append(entry)
    return out


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """``value`` as an ``int`` (numpy's integers included) from ``low`` to ``high``; anything else is one sentence."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}; got {value!r}.")
    return int(value)


def config_mapping(config: Any) -> dict[str, Any]:
    """``config`` as the mapping of a run: a mapping as given, or a config file or shipped config's
    name read with its ``base:`` files and prompts file."""
    if isinstance(config, Mapping):
        return merge_bases(dict(config), Path.cwd(), "config")
    if not isinstance(config, (str, os.PathLike)) or not str(config).strip():
        raise ConfigError(f"config must be a shipped config's name (e.g. 'demo'), a config file or a config mapping; got {config!r}.")
    path = config_file(config)
    return inline_prompts(load_config(path), path)
