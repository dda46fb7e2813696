"""The command line: ``python cli.py fit --config configs/demo.yaml``.

A thin ``LightningCLI``; what it adds (``base:`` files, checks before anything is built,
the resolved image config in every PNG) lives in :mod:`dasag.config`, which also builds
runs from Python through this same class.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.cli import LightningCLI

from dasag.config import ConfigError, check_run_config, expand_config_args, first_line, image_config, quiet_expected_warnings
from dasag.data import PromptDataModule
from dasag.module import DirectAscent
from dasag.speed.switches import tune_host_allocator
from dasag.weights import use_weight_locations, weight_locations

#: Lightning logs every 50 steps by default; a run here is often 60 steps long.
LOG_EVERY_N_STEPS = 10


class DasagCLI(LightningCLI):
    """LightningCLI for :class:`DirectAscent` and :class:`PromptDataModule`.

    Before instantiation it checks what no single constructor can (the run's length, the
    output folder); right after, and before any weights load or any file is written, it
    checks the prompts against the scorer and gives the module its resolved image config.
    """

    def __init__(self, args: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("seed_everything_default", 0)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        kwargs["trainer_defaults"] = {"log_every_n_steps": LOG_EVERY_N_STEPS, **kwargs.get("trainer_defaults", {})}
        super().__init__(DirectAscent, PromptDataModule, args=args, **kwargs)

    def _active_config(self) -> Any:
        return self.config[self.subcommand] if self.subcommand else self.config

    def before_instantiate_classes(self) -> None:
        if self.subcommand in (None, "fit"):
            check_run_config(self._active_config())

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if self.subcommand not in (None, "fit"):
            return
        try:  # e.g. an unknown ImageNet class: before any weights load or file is written
            self.model.check_prompts(self.datamodule.prompts)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        config = self._active_config()
        resolved = yaml.safe_load(self._parser(self.subcommand).dump(config, skip_none=False, skip_validation=True))
        resolved.pop("config", None)
        self.model.run_config = image_config(resolved, int(config.trainer.max_steps))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cli.py`` and the ``dasag`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_expected_warnings()
    # Weight locations (SIGLIP_MODEL_PATH, ... and ./.env) are read here, once, at the edge.
    use_weight_locations(weight_locations(os.environ, Path.cwd() / ".env"))
    tune_host_allocator()
    from jsonargparse import ArgumentError

    try:
        # exit_on_error=False: a bad option raises instead of printing the 60-line usage; the
        # user gets one sentence naming the key (``--help`` still lists every option).
        DasagCLI(args=expand_config_args(argv), parser_kwargs={"exit_on_error": False})
    except (ArgumentError, ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {first_line(e)}", file=sys.stderr)
        if isinstance(e, ArgumentError):
            print("(python cli.py fit --help lists every option)", file=sys.stderr)
        return 2
    return 0
