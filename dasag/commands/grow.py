"""``dasag grow``: a large picture made stage by stage at growing sizes (docs/large.md)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence

from dasag.commands.skeleton import Command, run_command

EXAMPLES = """examples:
  dasag grow --config large/cpu_1024 --out runs/large      the shipped offline 1024 px picture (256 -> 512 -> 1024 px)
  dasag grow --config my_growth.yaml --out runs/large      running it again continues from the last finished stage
outputs: stage_<k>_<px>px.png and .safetensors per stage, final.png, growth.json, timings.json."""


def add_options(parser) -> None:
    parser.add_argument("--config", required=True, help="a run config with a growth: block (a file, or a shipped config by name)")
    parser.add_argument("--out", required=True, help="output folder; running again into it continues from the last finished stage")
    parser.add_argument("--threads", type=int | None, default=None, help="CPU threads; CPU image bytes depend on it (default: the folder's, else 2)")


def run(args: Namespace) -> int:
    from dasag.core.config import config_file
    from dasag.growth.grow import prepare
    from dasag.growth.grow import run as grow

    final = grow(prepare(config_file(args.config), args.out, args.threads))
    print(f"wrote {final}")
    return 0


def kept(args: Namespace) -> str:
    return f"every finished stage is kept in {str(args.out)!r}: free some space and run the same command again"


COMMAND = Command("grow", "Make a large picture in stages of growing size, each from the one before.", run, add_options, kept, EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
