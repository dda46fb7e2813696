"""``dasag app``: the web app (Streamlit) in the browser (docs/app.md)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from dasag.commands.skeleton import Command, run_command
from dasag.core.errors import ConfigError

EXAMPLES = """examples:
  dasag app                          serves the page on http://localhost:8501
  dasag app --server.port 8600       any option of streamlit run"""


#: Streamlit's own option groups, passed on to ``streamlit run``.
STREAMLIT_OPTIONS = ("--server.", "--browser.", "--theme.", "--logger.", "--client.", "--runner.", "--global.", "--magic.")


def run(args: Namespace) -> int:
    if "-h" in args.argv or "--help" in args.argv:
        print(f"usage: dasag app [--server.port PORT ...]\n\n{COMMAND.summary}\n\n{EXAMPLES}")
        return 0
    for arg in args.argv:
        if arg.startswith("-") and not arg.startswith(STREAMLIT_OPTIONS):
            raise ConfigError(f"{arg.split('=')[0]} is not an option of dasag app; it takes streamlit's own options "
                              f"({', '.join(o + '*' for o in STREAMLIT_OPTIONS[:3])}, ...).")
    if importlib.util.find_spec("streamlit") is None:
        raise ConfigError('the app needs Streamlit, which is not installed: pip install "dasag[app]".')
    page = Path(__file__).resolve().parents[1] / "app" / "page.py"
    return subprocess.call([sys.executable, "-m", "streamlit", "run", str(page), *args.argv])


COMMAND = Command("app", "Serve the web app: prompts and settings in a page, the picture as it forms, a clip maker.", run,
                  own_parser=True, examples=EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
