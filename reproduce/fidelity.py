"""Measure each difference from DAS-AG v2 on one step: ``python reproduce/fidelity.py [--write docs/fidelity.md]``.

The measurement itself is :mod:`dasag.quality.fidelity` (installed with the package); this script is
its command, on the command skeleton every dasag command runs on.
"""

import sys
import time
from pathlib import Path

from dasag.commands.skeleton import Command, run_command
from dasag.core.errors import ConfigError


def add_options(parser) -> None:
    parser.add_argument("--write", type=Path | None, default=None, help="replace the table between the markers in this file (docs/fidelity.md)")


def run(args) -> int:
    from dasag.quality.fidelity import table, write

    if args.write is not None and not args.write.is_file():
        raise ConfigError(f"--write {str(args.write)!r} does not exist.")
    start = time.perf_counter()
    text = table()
    print(text)
    print(f"\n({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    if args.write is not None:
        write(args.write, text)
    return 0


COMMAND = Command("fidelity", "Measure each difference from DAS-AG v2 on one step (cosine and norm ratio of the gradients).", run, add_options)

if __name__ == "__main__":
    sys.exit(run_command(COMMAND))
