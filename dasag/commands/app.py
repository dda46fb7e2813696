"""``dasag app``: the web app (Streamlit) in the browser (docs/app.md).

Safe by default, as Jupyter and TensorBoard are: the server binds 127.0.0.1 unless ``--listen``
(or Streamlit's own ``--server.address``) says otherwise, and then it needs a password (one is made
and printed if :data:`~dasag.app.serving.PASSWORD_VARIABLE` is not set; ``--no-password`` serves it
open, said loudly). Streamlit's usage statistics, its e-mail prompt and its look-up of this machine's
public address (checkip.amazonaws.com) are switched off here, on the command line, which outranks
Streamlit's config files and environment. Every option is checked before Streamlit starts.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import subprocess
import sys
from argparse import ArgumentError, Namespace
from collections.abc import Sequence
from pathlib import Path

from dasag.app.serving import PASSWORD_VARIABLE, WILDCARDS, ServerSettings, check_address
from dasag.commands.skeleton import Command, run_command
from dasag.core.errors import ConfigError

EXAMPLES = f"""examples:
  dasag app                          serves the page on http://127.0.0.1:8501, to this machine only
  dasag app --out-root ~/pictures    every run and clip writes under ~/pictures
  dasag app --listen                 serves it to the network, behind a password ({PASSWORD_VARIABLE}, or one made and printed)
  dasag app --max-steps 200 --max-size 384
  dasag app --server.port 8600       any option of streamlit run"""


#: Streamlit's own option groups, passed on to ``streamlit run``.
STREAMLIT_OPTIONS = ("--server.", "--browser.", "--theme.", "--logger.", "--client.", "--runner.", "--global.", "--magic.")

#: Streamlit options dasag app sets itself, with why a user may not set them.
MANAGED = {
    "--browser.gatherUsageStats": "dasag app keeps Streamlit's usage statistics off: an offline tool sends nothing anywhere",
    "--server.showEmailPrompt": "dasag app keeps Streamlit's e-mail prompt off: an offline tool sends nothing anywhere",
}

#: What dasag app always tells Streamlit: no usage statistics, no e-mail prompt (whose answer is sent to Streamlit).
QUIET = ["--browser.gatherUsageStats", "false", "--server.showEmailPrompt", "false"]


def usage() -> str:
    text = ServerSettings.parser().format_help()
    options = text[text.index("options:"):].rstrip()
    return (f"usage: dasag app [--listen [ADDRESS]] [--out-root DIR] [--max-steps N] ... [--server.* VALUE ...]\n\n{COMMAND.summary}\n\n"
            f"{options}\n\nenvironment:\n  {PASSWORD_VARIABLE}  the page's password (at least 8 characters); with --listen and none set, "
            f"one is made and printed\n\nStreamlit's own options (--server.port, --server.headless, --theme.*, ...) pass on to streamlit run.\n\n{EXAMPLES}")


def split_options(argv: Sequence[str]) -> tuple[Namespace, list[str]]:
    """dasag app's own options, and Streamlit's (each with its value) to pass on; one sentence for anything else."""
    own = ServerSettings.option_names()
    for name in own:
        if sum(a == name or a.startswith(name + "=") for a in argv) > 1:
            raise ConfigError(f"{name} is given more than once; give it once.")
    try:
        options, rest = ServerSettings.parser().parse_known_args(list(argv))
    except ArgumentError as e:
        raise ConfigError(f"{e} (dasag app --help lists the options).") from None
    streamlit: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        name = arg.split("=")[0]
        if not arg.startswith(STREAMLIT_OPTIONS):
            raise ConfigError(f"{name} is not an option of dasag app; it takes its own ({', '.join(own)}) "
                              f"and streamlit's ({', '.join(o + '*' for o in STREAMLIT_OPTIONS[:3])}, ...).")
        if name in MANAGED:
            raise ConfigError(f"{name} cannot be set: {MANAGED[name]}.")
        if "=" in arg:
            streamlit.append(arg)
            i += 1
            continue
        if i + 1 >= len(rest) or rest[i + 1].startswith("--"):
            raise ConfigError(f"{name} needs a value (e.g. {name} VALUE).")
        streamlit += [arg, rest[i + 1]]
        i += 2
    return options, streamlit


def take_server_address(options: Namespace, streamlit: list[str]) -> list[str]:
    """Streamlit's ``--server.address`` is ``--listen`` in its own words: one address, given once."""
    given = [(i, a) for i, a in enumerate(streamlit) if a.split("=")[0] == "--server.address"]
    if not given:
        return streamlit
    if len(given) > 1:
        raise ConfigError("--server.address is given more than once; give it once.")
    i, arg = given[0]
    address = arg.split("=", 1)[1] if "=" in arg else streamlit[i + 1]
    if options.listen is not None:
        raise ConfigError(f"--listen and --server.address both name the address; give one (--listen {address}).")
    options.listen = check_address(address, "--server.address")
    return streamlit[:i] + streamlit[i + (1 if "=" in arg else 2):]


def given(streamlit: list[str], name: str) -> bool:
    return any(a.split("=")[0] == name for a in streamlit)


def streamlit_argv(server: ServerSettings, streamlit: list[str]) -> list[str]:
    """``streamlit run PAGE`` with the address, the quiet switches, the user's options, then the page's settings after ``--``."""
    page = Path(__file__).resolve().parents[1] / "app" / "page.py"
    ours = ["--server.address", server.address, *QUIET]
    if server.address in WILDCARDS and not given(streamlit, "--browser.serverAddress"):
        # Streamlit looks this machine's public address up on checkip.amazonaws.com to print it when it
        # binds every interface headless; naming the address a browser should use prints that instead.
        ours += ["--browser.serverAddress", socket.gethostname()]
    if not given(streamlit, "--client.toolbarMode"):
        # no Deploy button (an advertisement that leads to streamlit.io) and no developer menu (Clear cache, Rerun)
        # beside a page that may show nothing but its password field
        ours += ["--client.toolbarMode", "minimal"]
    if server.served and not given(streamlit, "--client.showErrorDetails"):
        ours += ["--client.showErrorDetails", "type"]  # a visitor sees no traceback (paths, code) of the server
    return [sys.executable, "-m", "streamlit", "run", str(page), *ours, *streamlit, "--", *server.to_argv()]


def announce(server: ServerSettings, made_password: str | None) -> None:
    """The console's line: who can reach the page, and what a visitor can do there."""
    if not server.served:
        print(f"dasag app: this machine only ({server.address}); every run and clip is written under {server.out_root}.", flush=True)
        return
    where = f"{server.address} (every interface)" if server.address in WILDCARDS else server.address
    if server.open_access:
        print(f"dasag app: WARNING: reachable from the network on {where} WITHOUT A PASSWORD (--no-password): anyone who can reach this "
              f"machine can {server.visitor_can()}.", flush=True)
        return
    print(f"dasag app: reachable from the network on {where}: a visitor who gives the password can {server.visitor_can()}.", flush=True)
    if made_password is not None:
        print(f"dasag app: password: {made_password} (made for this server; set {PASSWORD_VARIABLE} to choose one)", flush=True)


def run(args: Namespace) -> int:
    if "-h" in args.argv or "--help" in args.argv:
        print(usage())
        return 0
    options, streamlit = split_options(args.argv)
    streamlit = take_server_address(options, streamlit)
    password = os.environ.get(PASSWORD_VARIABLE)  # read once, here at the edge; the page's process inherits it
    server = ServerSettings.from_options(options, password).check()
    if importlib.util.find_spec("streamlit") is None:
        raise ConfigError('the app needs Streamlit, which is not installed: pip install "dasag[app]".')
    made = None
    if server.served and not server.open_access and not server.password:
        made = secrets.token_urlsafe(12)  # Jupyter's way: a served page is never open by accident
    env = {**os.environ, **({PASSWORD_VARIABLE: made} if made else {})}
    announce(server, made)
    return subprocess.call(streamlit_argv(server, streamlit), env=env)


COMMAND = Command("app", "Serve the web app: prompts and settings in a page, the picture as it forms, a clip maker.", run,
                  own_parser=True, examples=EXAMPLES)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(COMMAND, argv)
