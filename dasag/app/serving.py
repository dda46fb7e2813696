"""How the page is served: the one folder every run writes under, the caps a visitor cannot lift, and
who may open the page. Nothing here imports Streamlit.

``dasag app`` builds one :class:`ServerSettings` from its options and checks it (one sentence, exit 2,
before Streamlit starts); the page process gets it as arguments after ``--`` (:meth:`ServerSettings.to_argv`)
and reads it back once, at its edge (:meth:`ServerSettings.from_argv`). Every value a visitor sends
(the folder field, steps, canvas, copies, frames, the scorer) is checked here on the server, since a
page's own limits (a number input's ``max_value``) are only a browser's courtesy.

The password never travels on a command line, which ``ps`` shows to every user of the machine: it
stays in the environment variable :data:`PASSWORD_VARIABLE`, read by ``dasag app`` and by the page
at their edges and inherited by the page's process.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dasag.core.errors import ConfigError
from dasag.core.files import check_writable
from dasag.core.ranges import COPIES, FRAMES, STEPS, Range
from dasag.image.pyramid import PRESETS

if TYPE_CHECKING:
    from dasag.app.settings import AppSettings

#: The environment variable holding the page's password (read at the edges only).
PASSWORD_VARIABLE = "DASAG_APP_PASSWORD"
#: A shorter password falls to guessing even at one guess a second.
MIN_PASSWORD_LENGTH = 8
#: A wrong password costs this long, for every visitor at once (guesses are taken one at a time).
WRONG_PASSWORD_SECONDS = 1.0
#: The address a server binds when not told otherwise: this machine only.
LOCAL_ADDRESS = "127.0.0.1"
#: ``--listen`` without an address: every IPv4 interface.
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - bound only when the user asks for the network
WILDCARDS = {"0.0.0.0", "::"}  # noqa: S104

#: The canvases a server may allow: the pyramid presets' visible sizes.
CANVAS = Range(min(PRESETS), max(PRESETS), whole=True)
#: Runs a server makes at the same time.
RUNS_AT_ONCE = Range(1, 64, whole=True)
#: Megabytes the output root's disk must keep free for a run to start.
FREE_MB = Range(0, 10**9, whole=True)
#: A folder name a visitor may give: one plain name, no separator, not hidden, not ``.``/``..``.
FOLDER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
#: What a folder name may hold, for the sentences that refuse one.
FOLDER_RULE = "give a plain name such as my_pictures (letters, digits, -, _ and ., up to 64), or leave it empty"


def _whole(text: str, option: str, allowed: Range) -> int:
    """``text`` as a whole number inside ``allowed``, or the one sentence naming the option."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not allowed.holds(value):
        raise ConfigError(f"{option} must be {allowed.describe()}; got {text!r}.")
    return value


def is_local(address: str) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only."""
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def check_address(address: str, option: str = "--listen") -> str:
    """``address`` if a server can bind it (an IP address, or a host name), else one sentence."""
    try:
        ipaddress.ip_address(address.strip("[]"))
        return address
    except ValueError:
        pass
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", address) is None or not re.search(r"[A-Za-z]", address):
        raise ConfigError(f"{option} takes an IP address of this machine (e.g. 0.0.0.0 for every interface, 192.168.1.5) or its host name; "
                          f"got {address!r}.")
    return address


#: Wrong guesses wait their turn: one at a time for the whole server, not per visitor.
_GUESSES = threading.Lock()


@dataclass(frozen=True)
class ServerSettings:
    """What the server allows; the defaults are a local server's, for one person on their own machine."""

    #: Every run and clip of the page writes under this folder (made absolute when the server starts).
    out_root: Path = Path("runs/app")
    #: Steps of one run, and of each frame of a clip.
    max_steps: int = 1000
    #: The largest canvas (visible px) the page offers.
    max_size: int = max(PRESETS)
    #: Augmented copies scored per step.
    max_copies: int = 32
    #: Frames of one clip.
    max_frames: int = 100
    #: Runs and clips made at the same time; the rest wait in line, their place shown.
    runs_at_once: int = 1
    #: Free space (MB) the output root's disk must keep for a run or clip to start.
    min_free_mb: int = 1024
    #: The address the server binds when serving wider than this machine (``None``: 127.0.0.1 only).
    listen: str | None = None
    #: Served wider without a password, on purpose (``--no-password``).
    open_access: bool = False
    #: The page's password (from :data:`PASSWORD_VARIABLE`; never on a command line, never shown).
    password: str | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ who may reach it
    @property
    def address(self) -> str:
        """The address the server binds."""
        return self.listen if self.listen is not None else LOCAL_ADDRESS

    @property
    def served(self) -> bool:
        """Whether other machines can reach the page (it binds more than the loopback)."""
        return not is_local(self.address)

    @property
    def locked(self) -> bool:
        """Whether the page shows nothing but a password field until the password is given."""
        return bool(self.password)

    def password_matches(self, given: str) -> bool:
        """Whether ``given`` is the password, compared in constant time (both hashed first, so not even
        the length shows); a wrong one costs :data:`WRONG_PASSWORD_SECONDS`, one guess at a time server-wide."""
        if not self.password:
            return True
        right = hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(self.password.encode()).digest())
        if not right:
            with _GUESSES:
                time.sleep(WRONG_PASSWORD_SECONDS)
        return right

    # ------------------------------------------------------------------ the hand-over to the page
    @staticmethod
    def parser() -> argparse.ArgumentParser:
        """The options ``dasag app`` takes and hands to the page (values as text, checked by :meth:`from_options`)."""
        p = argparse.ArgumentParser(prog="dasag app", add_help=False, allow_abbrev=False, exit_on_error=False)
        d = ServerSettings()
        p.add_argument("--out-root", metavar="DIR", help=f"every run and clip writes under this folder (default: {d.out_root})")
        p.add_argument("--listen", nargs="?", const=EVERY_INTERFACE, metavar="ADDRESS",
                       help=f"serve to the network on ADDRESS (default {EVERY_INTERFACE}: every interface); needs the password")
        p.add_argument("--no-password", action="store_true", help="with --listen: serve without a password (anyone who reaches the machine)")
        p.add_argument("--max-steps", metavar="N", help=f"steps of a run or of a clip's frame (default {d.max_steps})")
        p.add_argument("--max-size", metavar="PX", help=f"the largest canvas, px (default {d.max_size}; canvases: {', '.join(map(str, PRESETS))})")
        p.add_argument("--max-copies", metavar="N", help=f"augmented copies a step (default {d.max_copies})")
        p.add_argument("--max-frames", metavar="N", help=f"frames of a clip (default {d.max_frames})")
        p.add_argument("--runs-at-once", metavar="N", help=f"runs and clips made at the same time; the rest wait in line (default {d.runs_at_once})")
        p.add_argument("--min-free-mb", metavar="MB", help=f"free disk space a run needs to start (default {d.min_free_mb})")
        return p

    @classmethod
    def option_names(cls) -> list[str]:
        return [a.option_strings[0] for a in cls.parser()._actions]

    @classmethod
    def from_options(cls, options: argparse.Namespace, password: str | None = None) -> ServerSettings:
        """The settings of parsed options (absent ones keep the defaults); each bad value is one sentence."""
        given: dict[str, Any] = {}
        if options.out_root is not None:
            if not options.out_root.strip():
                raise ConfigError("--out-root is empty: give the folder every run of the page writes under (default runs/app).")
            given["out_root"] = Path(options.out_root).expanduser()
        for name, allowed in (("max_steps", STEPS), ("max_size", CANVAS), ("max_copies", COPIES), ("max_frames", FRAMES),
                              ("runs_at_once", RUNS_AT_ONCE), ("min_free_mb", FREE_MB)):
            text = getattr(options, name)
            if text is not None:
                given[name] = _whole(text, "--" + name.replace("_", "-"), allowed)
        if options.listen is not None:
            given["listen"] = check_address(options.listen)
        given["open_access"] = bool(options.no_password)
        return cls(**given, password=password or None)

    @classmethod
    def from_argv(cls, argv: Sequence[str], password: str | None = None) -> ServerSettings:
        """The settings :meth:`to_argv` wrote (the page's side of the hand-over)."""
        try:
            options = cls.parser().parse_args(list(argv))
        except argparse.ArgumentError as e:
            raise ConfigError(f"the page's server settings are not dasag app's: {e}.") from None
        return cls.from_options(options, password)

    def to_argv(self) -> list[str]:
        """These settings as the options :meth:`from_argv` reads (the password is not among them)."""
        argv = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("password", "open_access", "listen") or value is None:
                continue
            argv += ["--" + f.name.replace("_", "-"), str(value)]
        if self.listen is not None:
            argv += ["--listen", self.listen]
        return argv + (["--no-password"] if self.open_access else [])

    def check(self) -> ServerSettings:
        """One sentence for settings a server cannot start with; the settings with the root made absolute."""
        if self.open_access and not self.served:
            raise ConfigError(f"--no-password only means something with --listen: a server on {self.address} is this machine's alone.")
        if self.open_access and self.password:
            raise ConfigError(f"--no-password and {PASSWORD_VARIABLE} contradict each other: unset {PASSWORD_VARIABLE}, or leave out --no-password.")
        if self.password is not None and len(self.password) < MIN_PASSWORD_LENGTH:
            raise ConfigError(f"{PASSWORD_VARIABLE} has {len(self.password)} characters; a password needs at least {MIN_PASSWORD_LENGTH}.")
        check_writable(self.out_root, "--out-root")
        return replace(self, out_root=Path(os.path.abspath(self.out_root)))

    # ------------------------------------------------------------------ where a run writes
    def folder(self, name: str) -> Path:
        """The folder a visitor named (``""``: the root itself), inside the root, or one sentence.
        Refused: absolute paths, ``..``, anything but one plain name, and a link that leads out of the root."""
        root = self.out_root
        name = name.strip()
        if not name:
            return root
        what = f"Folder {name!r}"
        if name.startswith(("/", "~", "\\")) or re.match(r"[A-Za-z]:", name):
            raise ConfigError(f"{what} is a path of its own, outside the server's folder {root}: {FOLDER_RULE}.")
        if ".." in re.split(r"[/\\]", name):
            raise ConfigError(f"{what} leads out of the server's folder {root}: {FOLDER_RULE}.")
        if FOLDER_NAME.fullmatch(name) is None:
            raise ConfigError(f"{what} is not a plain folder name: {FOLDER_RULE}.")
        path = root / name
        real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
        if real != real_root and real_root not in real.parents:
            raise ConfigError(f"{what} is a link that leads out of the server's folder {root}: {FOLDER_RULE}.")
        check_writable(path, "Folder")
        return path

    def check_free_space(self) -> None:
        """The output root's disk must keep :attr:`min_free_mb` free before a run or clip starts."""
        anchor = self.out_root
        while not anchor.exists() and anchor != anchor.parent:
            anchor = anchor.parent
        free_mb = shutil.disk_usage(anchor).free / 2**20
        if free_mb < self.min_free_mb:
            raise ConfigError(f"only {free_mb:,.0f} MB is free on the disk of {self.out_root}, and a run needs {self.min_free_mb:,} MB free "
                              "(dasag app --min-free-mb): free some space first.")

    # ------------------------------------------------------------------ what a visitor may ask for
    def admit(self, settings: AppSettings) -> AppSettings:
        """The page's settings as a run of this server takes them: the folder field (a name) made the
        folder inside the root, within the caps, with room on the disk; else one sentence."""
        settings = replace(settings, output_dir=str(self.folder(settings.output_dir)))
        self.check_run(settings)
        self.check_free_space()
        return settings

    def check_run(self, settings: AppSettings) -> None:
        """The caps a page cannot lift, and on a served page no file or download a visitor names: one sentence."""
        if settings.steps > self.max_steps:
            raise ConfigError(f"Steps: this server makes at most {self.max_steps} steps a run (dasag app --max-steps); got {settings.steps}.")
        if settings.resolution > self.max_size:
            raise ConfigError(f"Resolution: this server makes pictures of at most {self.max_size} px (dasag app --max-size); "
                              f"got {settings.resolution}.")
        if settings.batch_size > self.max_copies:
            raise ConfigError(f"Batch size: this server scores at most {self.max_copies} copies a step (dasag app --max-copies); "
                              f"got {settings.batch_size}.")
        if self.served:
            self._check_served(settings)

    def _check_served(self, settings: AppSettings) -> None:
        """A visitor from the network reads no file and downloads nothing: weights from the locations
        the server was started with, and no image prompt (a path on the server)."""
        from dasag.core.prompts import parse_prompts
        from dasag.scorers import registry

        if settings.model_path.strip() or settings.aesthetic_head.strip():
            raise ConfigError("this server reads no model file a visitor names: its scorers load from the locations it was started with.")
        here = [entry.name for entry in registry.available()]
        if settings.scorer not in here:
            raise ConfigError(f"scorer {settings.scorer!r} has no weights on this server, which downloads nothing for a visitor; "
                              f"it offers {', '.join(here)}.")
        positive, negative = settings.prompts()
        if parse_prompts(positive, negative).images:
            raise ConfigError("image prompts read a file of the server, which a visitor from the network may not name: use text or class prompts.")

    def check_clip(self, frames: int, steps: int) -> None:
        """A clip's frames and steps per frame within the caps."""
        if frames > self.max_frames:
            raise ConfigError(f"Frames: this server makes clips of at most {self.max_frames} frames (dasag app --max-frames); got {frames}.")
        if steps > self.max_steps:
            raise ConfigError(f"Steps per later frame: this server makes at most {self.max_steps} steps a frame (dasag app --max-steps); "
                              f"got {steps}.")

    def canvases(self) -> list[int]:
        """The canvases the page offers: the presets up to :attr:`max_size`."""
        return [size for size in PRESETS if size <= self.max_size]

    # ------------------------------------------------------------------ in words
    def visitor_can(self) -> str:
        """What a visitor can do here, in one clause (the console's line and the docs say the same)."""
        line = "one run or clip at a time" if self.runs_at_once == 1 else f"{self.runs_at_once} runs or clips at a time"
        return (f"make pictures and clips (at most {self.max_steps} steps, {self.max_size} px, {self.max_copies} copies a step, "
                f"{self.max_frames} frames; {line}, the rest wait in line) with the scorers whose weights are here, download them, "
                f"and write only inside {self.out_root}")
