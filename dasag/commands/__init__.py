"""The command-line entry points, each a few lines on one skeleton (:mod:`.skeleton`).

``dasag <command>`` (and ``python -m dasag <command>``, ``python cli.py <command>``) runs one of
:data:`COMMANDS`; every command also has its own console script, ``dasag-<command>``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

#: Command name -> the module whose ``COMMAND`` it is, in the order ``dasag --help`` lists them.
COMMANDS: dict[str, str] = {
    "fit": "dasag.commands.fit",
    "animate": "dasag.commands.animate",
    "grow": "dasag.commands.grow",
    "batch": "dasag.commands.batch",
    "quality": "dasag.commands.quality",
    "personalize": "dasag.commands.personalize",
    "bench": "dasag.commands.bench",
    "app": "dasag.commands.app",
}

USAGE = "usage: dasag <command> [options]       (dasag <command> --help: its options)"


def overview() -> str:
    """``dasag --help``: every command and what it does."""
    lines = [USAGE, "", "Direct Ascent Synthesis with Aesthetic Guidance: pictures by gradient ascent against frozen models.", "",
             "commands:"]
    for name, module in COMMANDS.items():
        lines.append(f"  {name:<12} {import_module(module).COMMAND.summary}")
    lines += ["", "e.g.  dasag fit --config demo      (the shipped offline demo; any shipped config by name, or a file)"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``dasag <command> [options]``: run the command; ``dasag`` or ``dasag --help`` lists them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(overview())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; the commands are {', '.join(COMMANDS)} (dasag --help says what each does).", file=sys.stderr)
        return 2
    return import_module(COMMANDS[name]).main(rest)
