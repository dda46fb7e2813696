"""``dasag fit``: one picture (or a few) from a run config."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dasag.commands.skeleton import Command, run_command

EXAMPLES = """examples:
  dasag fit --config demo                                   the shipped offline demo (EfficientNet-Lite0, 60 steps)
  dasag fit --config das_ag_plus --data.positive_prompts '[a lighthouse at dusk]'
  dasag fit --config run.yaml --trainer.max_steps 30        any config file; any key can be set after it
  dasag fit --config run.yaml --ckpt_path runs/x/lightning_logs/version_0/checkpoints/last.ckpt
shipped configs are named without their folder or .yaml; docs/reproduce.md says what a deterministic run promises where."""


def _one_run(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """A ``--config`` file as one run: a growth config is several (``dasag grow``), and a prompts file
    is read into the config so the config every picture records is whole on its own."""
    from dasag.core.errors import ConfigError
    from dasag.run.data import inline_prompts

    if "growth" in config:
        raise ConfigError(f"config {str(path)!r} has a growth block (stages of growing size): run it with dasag grow --config {path} --out DIR.")
    if "animation" in config:
        raise ConfigError(f"config {str(path)!r} has an animation block (a clip of frames): run it with dasag animate --config {path} --out DIR.")
    return inline_prompts(config, path)


def run(args: Namespace) -> int:
    from dasag.core.config import expand_config_args
    from dasag.run.build import build_run

    if "-h" in args.argv or "--help" in args.argv:
        print(f"{COMMAND.summary}\n\n{EXAMPLES}\n")
    built = build_run(expand_config_args(args.argv, _one_run), load_weights=True)
    device = built.trainer.strategy.root_device
    print(f"dasag: {built.trainer.max_steps} steps on {device}, seed {built.model.seed}", flush=True)
    built.fit()
    print(outputs_line(built))
    return 0


def outputs_line(built) -> str:
    """Where the run's files are and which it wrote: checkpoints and the TensorBoard events only when
    the trainer kept them (``trainer.enable_checkpointing`` / ``trainer.logger`` false leave them out)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    where = built.output_dir
    names = ["final.png", "config.yaml"] + (["checkpoints/"] if built.trainer.checkpoint_callback is not None else [])
    tensorboard = any(isinstance(logger, TensorBoardLogger) for logger in built.trainer.loggers)
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if not tensorboard else ", ".join(names)
    events = f" and the TensorBoard events (tensorboard --logdir {where.parent})" if tensorboard else ""
    return f"outputs in {where}: {listed}{events}"


COMMAND = Command("fit", "Make a picture by direct ascent from a run config (a file, or a shipped config by name).", run,
                  own_parser=True, examples=EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
