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
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dasag.checkpoint_io import AtomicCheckpointIO
from dasag.config import (
    ConfigError,
    check_run_config,
    check_seed,
    expand_config_args,
    first_line,
    image_config,
    quiet_expected_warnings,
    quiet_lightning_banners,
    quiet_loading_bars,
)
from dasag.data import PromptDataModule
from dasag.files import disk_full_message, is_disk_full, remove_stale_temps
from dasag.module import DirectAscent
from dasag.progress import use_step_progress_bars
from dasag.pyramid import host_memory_bytes
from dasag.resume import check_resume, read_checkpoint
from dasag.run_folder import RunLogger, finished_files
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
        # No model summary by default: a parameter table with "FLOPs 0" rows tells a user nothing about the image.
        kwargs["trainer_defaults"] = {"log_every_n_steps": LOG_EVERY_N_STEPS, "enable_model_summary": False, **kwargs.get("trainer_defaults", {})}
        super().__init__(DirectAscent, PromptDataModule, args=args, **kwargs)

    #: The ``--ckpt_path`` contents, read once while parsing (``None``: no checkpoint given).
    _checkpoint: dict[str, Any] | None = None

    def _active_config(self) -> Any:
        return self.config[self.subcommand] if self.subcommand else self.config

    def _parse_ckpt_path(self) -> None:
        """LightningCLI reads ``--ckpt_path`` while parsing (for its saved hyperparameters), with
        a traceback on a bad file: read it first, so a missing, empty, truncated or unsafe
        checkpoint is one sentence before anything is built or written."""
        if self.config.get("subcommand"):
            path = self.config[self.config.subcommand].get("ckpt_path")
            if path:
                self._checkpoint = read_checkpoint(path)  # kept for the pyramid check after instantiation
        super()._parse_ckpt_path()

    def _set_seed(self) -> None:
        """LightningCLI seeds before any other check: a bad seed is one sentence, not numpy's bounds message."""
        check_seed(self._active_config().get("seed_everything"))
        super()._set_seed()

    def before_instantiate_classes(self) -> None:
        if self.subcommand in (None, "fit"):
            check_run_config(self._active_config(), host_memory_bytes())  # the pyramid is built in host memory first
        if self.subcommand == "fit":
            config = self._active_config()
            if config.get("weights_only") is False:
                raise ConfigError("weights_only false would let a checkpoint run arbitrary code; dasag checkpoints load with weights_only true.")
            config["weights_only"] = True  # --ckpt_path, local or a URL: tensors and plain values only

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if self.subcommand not in (None, "fit"):
            return
        if type(self.trainer.logger) is TensorBoardLogger:  # Lightning's default logger: give it an atomic version folder
            self.trainer.loggers = [RunLogger.replacing(self.trainer.logger)]
        if type(self.trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # Lightning's default: whole or absent on any filesystem
            self.trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        use_step_progress_bars(self.trainer.callbacks)  # "step 12/60" and live scores, not "Epoch 0/-2" and v_num
        config = self._active_config()
        try:  # e.g. an unknown ImageNet class, a checkpoint of another pyramid: before any weights load or file is written
            self.model.check_prompts(self.datamodule.prompts)
            self.model.check_optimizer()
            if config.get("ckpt_path"):
                checkpoint = self._checkpoint or read_checkpoint(config["ckpt_path"])
                check_resume(config["ckpt_path"], checkpoint, self.model, int(config.trainer.max_steps))
        except (ValueError, FileNotFoundError) as e:
            raise ConfigError(first_line(e)) from None
        if self.subcommand == "fit":
            self._load_weights()
            checkpoints = Path(str(config.get("ckpt_path") or "")).parent
            if config.get("ckpt_path") and "://" not in str(config["ckpt_path"]) and checkpoints.name == "checkpoints":
                run = checkpoints.parent  # the resumed run's own folder: temp files of its killed writes
                for folder in (run, checkpoints, run / "images"):
                    remove_stale_temps(folder)
        resolved = yaml.safe_load(self._parser(self.subcommand).dump(config, skip_none=False, skip_validation=True))
        resolved.pop("config", None)
        self.model.run_config = image_config(resolved, int(config.trainer.max_steps))

    def before_fit(self) -> None:
        """One line for the console before the bar: what runs where (Lightning's own banners are off)."""
        try:
            device = str(self.trainer.strategy.root_device)
        except (AttributeError, RuntimeError, IndexError):
            device = type(self.trainer.accelerator).__name__
        print(f"dasag: {self.trainer.max_steps} steps on {device}, seed {self.model.seed}", flush=True)

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except MisconfigurationException as e:  # raised inside fit, after the run's folder exists: not a bad option
            raise RunFailed(f"the run stopped: {first_line(e)}") from None
        except BaseException as e:
            full = next((x for x in _chain(e) if is_disk_full(x)), None)
            if full is None:
                raise
            logger = self.trainer.logger if isinstance(self.trainer.logger, RunLogger) else None
            removed = logger.discard_if_nothing_computed() if logger is not None else False
            folder = logger.created_dir if logger is not None else None
            raise RunFailed(disk_full_sentence(full, self.trainer.global_step, folder, removed)) from None

    def _load_weights(self) -> None:
        """Read every weights file the run needs (scorer, aesthetic head, style embedding,
        reference images) now, before the run's folder exists: a corrupt, truncated or
        mismatched file is one sentence and leaves nothing behind. (``build_run`` callers
        share an already loaded scorer instead, and skip this.)"""
        try:
            self.model.use_prompts(self.datamodule.prompts)
        except (ValueError, OSError) as e:
            raise ConfigError(first_line(e)) from None


class RunFailed(RuntimeError):
    """A run that started and could not finish (e.g. a full disk); the message is the one sentence shown."""


def _chain(error: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while error is not None and error not in out:
        out.append(error)
        error = error.__cause__ or error.__context__
    return out


def disk_full_sentence(error: OSError, step: int, folder: Path | None, removed: bool) -> str:
    """What ran out, and what is left of the run's ``folder`` (``removed``: it held nothing computed)."""
    what = disk_full_message(error)
    if folder is None:
        return f"{what}; the run stopped after {step} steps."
    if removed:
        return f"{what}; the run stopped after {step} steps and its folder {str(folder)!r}, which held nothing computed, was removed."
    kept = finished_files(folder)
    names = ", ".join(str(p.relative_to(folder)) for p in kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
    last = max((p for p in kept if p.suffix == ".ckpt"), key=lambda p: p.stat().st_mtime, default=None)
    go_on = f"; free some space and continue with --ckpt_path {str(last)!r}" if last else ""
    return f"{what}; the run stopped after {step} steps, and {str(folder)!r} keeps what it finished ({names}){go_on}."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cli.py`` and the ``dasag`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_expected_warnings()
    quiet_loading_bars()
    quiet_lightning_banners()  # seed / GPU / TPU / "fit stopped" lines: the start line and the bar say what matters
    # Weight locations (SIGLIP_MODEL_PATH, ... and ./.env) are read here, once, at the edge.
    use_weight_locations(weight_locations(os.environ, Path.cwd() / ".env"))
    tune_host_allocator()
    from jsonargparse import ArgumentError

    try:
        # exit_on_error=False: a bad option raises instead of printing the 60-line usage; the
        # user gets one sentence naming the key (``--help`` still lists every option).
        cli = DasagCLI(args=expand_config_args(argv), parser_kwargs={"exit_on_error": False})
    except RunFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ArgumentError, ConfigError, ValueError, FileNotFoundError, MisconfigurationException) as e:
        reason = first_line(e)
        if isinstance(e, MisconfigurationException):  # building the Trainer, e.g. --trainer.accelerator gpu on a CPU machine
            reason = f"the trainer settings are not possible here: {reason.rstrip('!.')} (trainer.accelerator auto or cpu always is)."
        print(f"error: {reason}", file=sys.stderr)
        if isinstance(e, ArgumentError):
            print("(python cli.py fit --help lists every option)", file=sys.stderr)
        return 2
    if cli.subcommand == "fit":
        where = Path(cli.trainer.log_dir or cli.trainer.default_root_dir)
        print(f"outputs in {where}: final.png, config.yaml, checkpoints/ and the TensorBoard events (tensorboard --logdir {where.parent})")
    return 0
