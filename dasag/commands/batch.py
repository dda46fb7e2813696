"""``dasag batch``: one picture per row of a CSV or YAML rows file (docs/batch.md)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from dasag.commands.quality import add_run_options, finish, kept, spec_of
from dasag.commands.skeleton import Command, run_command

EXAMPLES = """examples:
  dasag batch examples/batch/rows.csv --config demo --out runs/batch
  dasag batch rows.yaml --config das_ag_plus --out runs/batch --devices 4
  dasag batch rows.csv --config demo --out runs/batch --check        regenerate and compare byte for byte
a row: prompt (weighted: 'a castle | misty:0.5'), negative, seed, name, steps, and any dotted config key."""


def add_options(parser) -> None:
    parser.add_argument("rows", type=Path, help="a .csv (header line, one row per line) or .yaml (a list of mappings) rows file")
    parser.add_argument("--config", required=True, help="the config every row starts from (a file, or a shipped config by name)")
    add_run_options(parser)
    parser.add_argument("--samples", type=int | None, default=None, help="only the first N rows")


def run(args: Namespace) -> int:
    from dasag.batch import engine
    from dasag.batch.rows_file import batch_suite
    from dasag.core.config import config_file

    spec = spec_of(args, suite="batch", rows=args.rows, config=config_file(args.config), samples=args.samples)
    suite = batch_suite(spec.config)
    return finish(args, lambda: engine.run(spec, suite), lambda: engine.check(spec, suite))


COMMAND = Command("batch", "Make one picture per row of a rows file (prompt, seed, any config key), resumable and checkable.", run,
                  add_options, kept, EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
