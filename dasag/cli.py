"""The command line: ``python cli.py fit --config configs/demo.yaml``.

A thin ``LightningCLI``. Three things are added at the edge, and nowhere deeper:

* a config file may name a ``base:`` file (relative to itself) whose settings it
  overrides, so method configs hold only what differs from the shared one;
* the whole configuration is checked before anything is built or written
  (steps, output directory, prompts against the scorer) and a bad value is reported
  as one sentence, with exit status 2 and no files left behind;
* the resolved configuration (what determines the image) is handed to the module so
  every exported PNG records how to make it again.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import yaml
from lightning.pytorch.cli import LightningCLI

from dasag.data import PromptDataModule
from dasag.weights import use_weight_locations, weight_locations
from dasag.module import DirectAscent
from dasag.perf import tune_host_allocator

#: Keys of a run's config that decide the image; paths and logging settings are left out
#: so the same run written elsewhere gives the same bytes.
IMAGE_KEYS = ("seed_everything", "model", "data")


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message is the one sentence shown."""


# ------------------------------------------------------------------ base files
def _load_with_bases(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"config {str(path)!r} names itself as a base (cycle through {[str(p) for p in seen]}).")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist.")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of settings.")
    bases = data.pop("base", None)
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else (bases or []):
        merged = deep_merge(merged, _load_with_bases(path.parent / base, seen + (path,)))
    return deep_merge(merged, data)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; mappings merge key by key, anything else replaces.

    A mapping whose ``class_path`` differs from the base's replaces it whole (its
    ``init_args`` belong to another class).
    """
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            if "class_path" in value and old.get("class_path") not in (None, value["class_path"]):
                out[key] = value
            else:
                out[key] = deep_merge(old, value)
        else:
            out[key] = value
    return out


def expand_config_args(args: Sequence[str]) -> list[str]:
    """Replace each ``--config FILE`` that has a ``base:`` with the merged YAML text."""
    out: list[str] = []
    it = iter(range(len(args)))
    args = list(args)
    i = 0
    while i < len(args):
        a = args[i]
        value = None
        if a == "--config" and i + 1 < len(args):
            value, i = args[i + 1], i + 2
        elif a.startswith("--config="):
            value, i = a.split("=", 1)[1], i + 1
        else:
            out.append(a)
            i += 1
            continue
        p = Path(value)
        if p.suffix in (".yaml", ".yml") and p.is_file() and "base" in (yaml.safe_load(p.read_text()) or {}):
            out += ["--config", yaml.safe_dump(_load_with_bases(p), sort_keys=False)]
        else:
            out += ["--config", value]
    del it
    return out


# ------------------------------------------------------------------ checks
def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(root: str | os.PathLike | None) -> None:
    """The output directory must be creatable and writable; checked without creating it."""
    path = Path(root or os.getcwd()).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"trainer.default_root_dir {str(path)!r} exists and is not a directory.")
    anchor = _nearest_existing(path.absolute())
    if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
        raise ConfigError(f"trainer.default_root_dir {str(path)!r} is not writable (nearest existing folder: {str(anchor)!r}).")


def check_run_config(config: Any) -> None:
    """Checks on the parsed config that no single constructor can make (cross-key ones)."""
    steps = config.trainer.max_steps
    if steps is None or int(steps) < 1:
        raise ConfigError(f"trainer.max_steps must be a positive integer (it is the run's length; every schedule reads it); got {steps}.")
    check_output_dir(config.trainer.default_root_dir)


def image_config(config_dict: dict[str, Any], max_steps: int) -> dict[str, Any]:
    """The part of a resolved config that decides the image (see ``IMAGE_KEYS``)."""
    out = {k: config_dict.get(k) for k in IMAGE_KEYS}
    out["trainer"] = {"max_steps": max_steps}
    return out


class DasagCLI(LightningCLI):
    """LightningCLI for :class:`DirectAscent` and :class:`PromptDataModule`."""

    def __init__(self, args: Sequence[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("seed_everything_default", 0)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        kwargs.setdefault("trainer_defaults", {"log_every_n_steps": 10})
        super().__init__(DirectAscent, PromptDataModule, args=args, **kwargs)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if self.subcommand in (None, "fit"):
            check_run_config(config)

    def before_fit(self) -> None:
        config = self.config["fit"]
        prompts = self.datamodule.prompts
        # Prompts against the scorer (e.g. an unknown ImageNet class): before any weights load
        # and before the config file is written into the run directory.
        try:
            self.model.scorer.validate_prompts(prompts.positive, prompts.negative)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        resolved = yaml.safe_load(self._parser("fit").dump(config, skip_none=False, skip_validation=True))
        resolved.pop("config", None)
        self.model.run_config = image_config(resolved, int(config.trainer.max_steps))


def root_cause(error: BaseException) -> BaseException:
    """The innermost cause: jsonargparse wraps a constructor's one-sentence ``ValueError``
    in a long "does not validate against any of the Union subtypes" report."""
    while (error.__cause__ or error.__context__) is not None:
        inner = error.__cause__ or error.__context__
        if not isinstance(inner, (ValueError, FileNotFoundError)):
            break
        error = inner
    return error


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cli.py`` and the ``dasag`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for noise in (".*does not have many workers.*", ".*IterableDataset.*__len__.*", ".*module\\(s\\) in eval mode.*", ".*args parameter is intended.*"):
        warnings.filterwarnings("ignore", message=noise)
    # Weight locations (SIGLIP_MODEL_PATH, ... and ./.env) are read here, once, at the edge.
    use_weight_locations(weight_locations(os.environ, Path.cwd() / ".env"))
    tune_host_allocator()
    try:
        DasagCLI(args=expand_config_args(argv))
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {root_cause(e)}", file=sys.stderr)
        return 2
    return 0
