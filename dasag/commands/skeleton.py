"""The one skeleton every command runs on.

    dasag <command> [options]          python -m dasag <command> [options]          dasag-<command> [options]

A command is a :class:`Command`: its name, one line saying what it does, its options and what it
runs. :func:`run_command` is the only place where

* options are parsed: jsonargparse with typed options, no usage text on a mistake, and no
  abbreviations (a misspelt ``--trainer.max_step`` is refused, not completed);
* the process is set up, once, before the first tensor exists
  (:func:`~dasag.core.process.set_up_process`: logs, warnings, allocator, CPU kernel pins) and
  the weight locations are read from the environment and ``./.env``;
* what went wrong becomes an exit status: bad input is ``error: <one sentence>`` and status 2,
  before any model loads or any file is written; a full disk is one sentence saying what is kept
  and status 1; a run that started and could not finish is its sentence and status 1.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dasag.core.errors import ConfigError, first_line
from dasag.core.files import disk_full_message, is_disk_full

#: Exit statuses.
OK, FAILED, BAD_INPUT = 0, 1, 2


def nothing_kept(args: Namespace) -> str:
    return "nothing was kept"


@dataclass(frozen=True)
class Command:
    """One command of ``dasag``."""

    name: str
    #: One line: what the command does (its ``--help`` title and its line in ``dasag --help``).
    summary: str
    #: Runs the command with the parsed options; returns the exit status (``None``: 0).
    run: Callable[[Namespace], int | None]
    #: Adds the command's options to its parser.
    add_options: Callable[..., None] | None = None
    #: What a full disk leaves behind, in words, for these options (asked only then).
    kept: Callable[[Namespace], str] = nothing_kept
    #: Usage examples shown under ``--help``.
    examples: str = ""
    #: The command parses its own options (``fit``: LightningCLI, through ``build_run``): ``run``
    #: gets ``Namespace(argv=[...])``.
    own_parser: bool = False

    def parser(self):
        """The command's parser: typed options, one sentence on a mistake, no abbreviations."""
        from jsonargparse import ArgumentParser
        from jsonargparse import DefaultHelpFormatter as HelpFormatter

        class Formatter(HelpFormatter):
            def _fill_text(self, text: str, width: int, indent: str) -> str:  # the examples keep their lines
                return "".join(indent + line for line in text.splitlines(keepends=True))

        parser = ArgumentParser(prog=f"dasag {self.name}", description=self.summary, epilog=self.examples or None, exit_on_error=False,
                                allow_abbrev=False, formatter_class=Formatter)
        if self.add_options is not None:
            self.add_options(parser)
        return parser


def _option_names(command: Command, sentence: str) -> str:
    """argparse names a missing required option by its destination (``out``): name it as it is typed (``--out``)."""
    prefix = "the following arguments are required: "
    if not sentence.startswith(prefix):
        return sentence
    flags = {a.dest: a.option_strings[-1] for a in command.parser()._actions if a.option_strings}
    return prefix + ", ".join(flags.get(name.strip(), name.strip()) for name in sentence[len(prefix):].rstrip(".").split(","))


def install_weight_locations() -> None:
    """Where model weights live (``SIGLIP_MODEL_PATH``, ... and ``./.env``), read once, here at the edge."""
    from dasag.scorers.weights import use_weight_locations, weight_locations

    use_weight_locations(weight_locations(os.environ, Path.cwd() / ".env"))


def run_command(command: Command, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's arguments), set the process up and run ``command``;
    returns its exit status (see the module)."""
    from jsonargparse import ArgumentError

    from dasag.core.process import set_up_process

    argv = list(sys.argv[1:] if argv is None else argv)
    args = Namespace(argv=argv)
    set_up_process()
    install_weight_locations()
    from dasag.run.build import RunFailed  # after the set-up: nothing of torch's runs before the CPU kernels are pinned

    try:
        if not command.own_parser:
            try:
                args = command.parser().parse_args(argv)
            except ArgumentError as e:  # the command's own options: say where they are listed
                raise ConfigError(f"{_option_names(command, first_line(e)).rstrip('.')} (dasag {command.name} --help lists the options).") from None
        status = command.run(args)
    except SystemExit as e:  # --help prints and ends here
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            return FAILED
        return int(e.code or 0)
    except (ArgumentError, ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {first_line(e)}", file=sys.stderr)
        return BAD_INPUT
    except OSError as e:
        if not is_disk_full(e):
            raise
        print(f"error: {disk_full_message(e)}; {command.kept(args)}", file=sys.stderr)
        return FAILED
    except RunFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return FAILED
    return OK if status is None else int(status)
