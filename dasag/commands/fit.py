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
    where = built.output_dir
    print(f"outputs in {where}: final.png, config.yaml, checkpoints/ and the TensorBoard events (tensorboard --logdir {where.parent})")
    return 0


COMMAND = Command("fit", "Make a picture by direct ascent from a run config (a file, or a shipped config by name).", run,
                  own_parser=True, examples=EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
