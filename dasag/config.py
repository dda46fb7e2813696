"""The config layer: reading, merging and checking run configs, and building a run from one.

A run is described by one mapping with the structure of a ``cli.py fit --config`` YAML file
(``seed_everything`` / ``trainer`` / ``model`` / ``data``). Everything that turns such a
mapping into objects goes through :func:`build_run` (or, from the command line,
:class:`~dasag.cli.DasagCLI`, which it uses), so the CLI, the app, the quality harness, the
speed bench and ``personalize`` all parse, check, seed and instantiate the same way.

Three things are added to LightningCLI's own parsing, here and nowhere deeper:

* a config file may name ``base:`` files (relative to itself) whose settings it overrides,
  so a config holds only what differs from the one it extends (:func:`load_config`);
* the whole configuration is checked before anything is built or written, and a bad value
  is one sentence (:class:`ConfigError`);
* the part of the resolved config that decides the image (:func:`image_config`) is handed
  to the module, so every exported PNG records how to make it again.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import lightning as L
    from lightning.pytorch.callbacks import Callback

    from dasag.data import PromptDataModule
    from dasag.module import DirectAscent
    from dasag.scorers.ensemble import ScorerEnsemble

#: The shipped configs: package data, so an installed wheel has them (``configs/`` in a checkout links here).
CONFIGS = Path(str(resources.files("dasag") / "configs"))

#: Keys of a run's config that decide the image; paths and logging settings are left out
#: so the same run written elsewhere gives the same bytes.
IMAGE_KEYS = ("seed_everything", "model", "data")

#: Warnings that are expected in every run and would only drown the log: the frozen scorer is
#: in eval mode on purpose, the prompt loader is an endless one-worker stream on purpose, and
#: the CLI is handed a mapping (not ``sys.argv``) on purpose.
EXPECTED_WARNINGS = (
    ".*does not have many workers.*",
    ".*IterableDataset.*__len__.*",
    ".*module\\(s\\) in eval mode.*",
    ".*args.*parameter is intended to run from within Python.*",
    ".*LeafSpec.*is deprecated.*",
)


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message is the one sentence shown."""


# ------------------------------------------------------------------ files
#: More values than any run config needs (the largest shipped one has about 100): a file past
#: this is refused before the parser copies it, as a YAML alias bomb would be (GBs, minutes).
MAX_CONFIG_VALUES = 100_000


def expanded_size(data: Any) -> int:
    """How many values ``data`` holds once every YAML alias is expanded (each shared object
    counted as often as it is referenced), computed in time linear in the distinct objects."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        if id(value) not in sizes:
            sizes[id(value)] = 0  # a self-referencing alias counts once
            children = list(value.keys()) + list(value.values()) if isinstance(value, dict) else value
            sizes[id(value)] = min(1 + sum(size(child) for child in children), MAX_CONFIG_VALUES + 1)
        return sizes[id(value)]

    return size(data)


def read_yaml_file(path: str | os.PathLike, what: str = "config file") -> dict[str, Any]:
    """One YAML file of settings as a mapping; anything else is one sentence naming the file
    (``what`` says which file it is): missing, unreadable, not YAML (with the line), an alias
    bomb (:data:`MAX_CONFIG_VALUES`), not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist.")
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not a text file.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML{where}: {problem}.") from None
    return checked_yaml(data, f"{what} {str(path)!r}")


def checked_yaml(data: Any, source: str) -> dict[str, Any]:
    """Parsed YAML (from ``source``, named in the sentence) that is a mapping of a sane size."""
    data = {} if data is None else data
    if expanded_size(data) > MAX_CONFIG_VALUES:
        raise ConfigError(f"{source} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases nested inside each other); "
                          f"a run config holds a few hundred.")
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping of settings (key: value lines); it holds a {type(data).__name__}.")
    return data


def read_stored_json(path: str | os.PathLike, advice: str, required_key: str | None = None) -> dict[str, Any] | None:
    """The JSON mapping a run stored at ``path`` to continue from (``None``: no run there yet). A file
    a kill or another program left unreadable is one sentence: what is wrong with it, then ``advice``."""
    import json

    path = Path(path)
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        stored = None
    if isinstance(stored, dict) and (required_key is None or required_key in stored):
        return stored
    reason = "empty" if path.stat().st_size == 0 else "not a JSON mapping" if not isinstance(stored, dict) else f"it has no {required_key!r}"
    raise ConfigError(f"{str(path)!r} is unreadable ({reason}): {advice}")


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """One YAML config file as a mapping (its ``base:`` not followed); see :func:`read_yaml_file`."""
    return read_yaml_file(path, "config file")


def load_config(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML config with its ``base:`` files (relative to it) merged underneath, in order."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"config {str(path)!r} names itself as a base (cycle through {[str(p) for p in _seen]}).")
    data = read_config_file(path)
    bases = data.pop("base", None)
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else (bases or []):
        merged = deep_merge(merged, load_config(path.parent / base, _seen + (path,)))
    return deep_merge(merged, data)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; mappings merge key by key, anything else replaces.

    A mapping whose ``class_path`` differs from the base's replaces it whole (its
    ``init_args`` belong to another class).
    """
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            if "class_path" in value and old.get("class_path") not in (None, value["class_path"]):
                out[key] = value
            else:
                out[key] = deep_merge(old, value)
        else:
            out[key] = value
    return out


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a name longer than the filesystem allows: not a file
        return False


def expand_config_args(args: Sequence[str]) -> list[str]:
    """Replace each ``--config FILE`` that has a ``base:`` with the merged YAML text."""
    args = list(args)
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "--config" and i + 1 < len(args):
            value, i = args[i + 1], i + 2
        elif args[i].startswith("--config="):
            value, i = args[i].split("=", 1)[1], i + 1
        else:
            out.append(args[i])
            i += 1
            continue
        p = Path(value)
        if "\n" not in value and (p.suffix in (".yaml", ".yml") or _is_file(p)):  # a file (not inline YAML): checked here, named in any error
            data = read_config_file(p)
            merged = load_config(p) if "base" in data else data
            if "growth" in merged:  # stages of growing size: not one run
                raise ConfigError(f"config {value!r} has a growth block (stages of growing size): run it with python -m dasag.grow --config {value} --out DIR.")
            if "base" in data:
                out += ["--config", yaml.safe_dump(merged, sort_keys=False)]
                continue
        else:  # inline YAML text: the same checks before the parser copies it
            try:
                checked_yaml(yaml.safe_load(value), "the --config text")
            except yaml.YAMLError as e:
                raise ConfigError(f"the --config text is neither a file that exists nor valid YAML ({str(e).splitlines()[0]}).") from None
        out += ["--config", value]
    return out


def resolve_prompts_file(value: str, config: str | os.PathLike) -> Path:
    """A ``data.prompts_file`` as given, else relative to the naming config's folder or its parent
    (shipped configs name ``configs/prompts/...`` relative to the checkout, which is that parent)."""
    config = Path(config)
    for candidate in (Path(value), config.parent / value, config.parent.parent / value):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"prompts_file {value!r} named by {str(config)!r} does not exist (looked in the working directory and next to the config).")


def constructor_default(cls: type, name: str) -> Any:
    """The default of one constructor argument, read from its signature (the one place it is stated)."""
    return inspect.signature(cls.__init__).parameters[name].default


def to_yaml(config: dict[str, Any]) -> str:
    """The config as YAML text for ``python cli.py fit --config FILE`` (key order kept)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


# ------------------------------------------------------------------ checks
def check_writable(path: str | os.PathLike, what: str) -> None:
    """``path`` must be a folder that exists or can be created, and be writable; nothing is created."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} exists and is not a directory.")
    anchor = path.absolute()
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(path)!r} is not writable (nearest existing folder: {str(anchor)!r}).")


def check_output_dir(root: str | os.PathLike | None) -> None:
    """The run's output directory (``trainer.default_root_dir``) must be creatable and writable."""
    check_writable(root or os.getcwd(), "trainer.default_root_dir")


def check_run_config(config: Any, available_memory: int | None = None) -> None:
    """Checks on the parsed config that no single constructor can make (cross-key ones, and the
    pyramid's size against ``available_memory`` bytes, before it is allocated)."""
    steps = config.trainer.max_steps
    if steps is None or int(steps) < 1:
        raise ConfigError(f"trainer.max_steps must be a positive integer (it is the run's length; every schedule reads it); got {steps}.")
    check_output_dir(config.trainer.default_root_dir)
    check_seed(config.get("seed_everything"))
    pyramid = config.get("model.pyramid.init_args") or {}
    sizes = [pyramid.get(k) for k in ("max_size", "num_images", "min_size")]
    if all(isinstance(v, int) for v in sizes):
        from dasag.pyramid import check_fits_in_memory

        step = pyramid.get("level_step")
        try:
            check_fits_in_memory(*sizes, available_memory, step if isinstance(step, int) and step > 0 else None)
        except ValueError as e:
            raise ConfigError(str(e)) from None


def check_seed(seed: Any) -> None:
    """``seed_everything``: a whole number numpy can seed with, or true/false/null (Lightning's own choices)."""
    if not isinstance(seed, bool) and seed is not None and not (isinstance(seed, int) and 0 <= seed < 2**32):
        raise ConfigError(f"seed_everything must be a whole number from 0 to {2**32 - 1} (or true for a random one); got {seed!r}.")


def image_config(config: dict[str, Any], max_steps: int) -> dict[str, Any]:
    """The part of a resolved config that decides the image (see ``IMAGE_KEYS``)."""
    out = {k: config.get(k) for k in IMAGE_KEYS}
    out["trainer"] = {"max_steps": max_steps}
    return out


def root_cause(error: BaseException) -> BaseException:
    """The innermost cause: jsonargparse wraps a constructor's one-sentence ``ValueError``
    in a long "does not validate against any of the Union subtypes" report."""
    while True:  # a ``raise ... from None`` already chose its sentence: its hidden context is not a cause
        inner = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if inner is None:
            break
        if not isinstance(inner, (ValueError, FileNotFoundError)):
            break
        error = inner
    return error


_PARSER_KEY = re.compile(r'^\s*(?:- )?(?:(?:Problem with given class_path|Type .* expects) .*:\s*)?Parser key "([^"]+)":\s*$')
_STRUCTURE = ("Does not validate", "Subtypes:", "Errors:", "Given value", "- Problem with given class_path", "Problem with given class_path",
              "- Expected a <class 'NoneType'>", "Expected a path but", "Expected a dot import path")
_EXPECTED = re.compile(r"^Expected an? (.*?)(?:\. Got value: (.*))?$")


def _type_words(text: str) -> str:
    literal = re.fullmatch(r"typing\.Literal\[(.*)\]", text)
    if literal:
        return f"one of {literal.group(1)}"
    return re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text)


def parser_sentence(text: str) -> str:
    """jsonargparse's nested report ("Parser key ...", union subtypes, ...) as one sentence:
    the full key path and the innermost complaint, e.g. ``model.objective.arctanh_on: expected
    one of 'copy', 'batch_mean'; got 'batch'.``"""
    lines = text.splitlines()
    keys, last_key = [], 0
    for n, line in enumerate(lines):
        match = _PARSER_KEY.match(line)
        if match:
            keys.append(match.group(1))
            last_key = n
    depth = len(lines[last_key]) - len(lines[last_key].lstrip(" -"))
    inner = []
    for line in lines[last_key + 1 :]:  # the innermost key's own block: lines indented deeper than it
        if line.strip() and len(line) - len(line.lstrip(" -")) <= depth:
            break
        inner.append(line.strip())
    problem = next((line.removeprefix("- ") for line in inner if line and not line.startswith(_STRUCTURE)
                    and not line.removeprefix("- ").startswith(_STRUCTURE)), "")
    if not problem:
        return lines[0].strip()
    given = next((line.removeprefix("Given value:").split(". Got value:")[0].strip() for line in inner if line.startswith("Given value:")), None)
    expected = _EXPECTED.match(problem)
    if expected:
        got = expected.group(2) if expected.group(2) is not None else given
        nullable = " or null" if "- Expected a <class 'NoneType'>" in inner else ""
        problem = f"expected {_type_words(expected.group(1))}{nullable}" + (f"; got {got!r}" if got is not None else "")
    sentence = f"{'.'.join(keys)}: {problem[0].lower() + problem[1:]}" if keys else problem
    return sentence.rstrip(".") + "."


#: A quoted value longer than this is shown as an excerpt (its start and end) in an error sentence.
EXCERPT_CHARS = 200
_LONG_QUOTED = re.compile(r"""(['"])([^'"\n]{""" + str(EXCERPT_CHARS + 1) + r""",})\1""")


def bounded(sentence: str) -> str:
    """``sentence`` with every long quoted value cut to an excerpt and its length: a
    100,000-character prompt is named, not echoed."""
    def excerpt(m: re.Match) -> str:
        quote, value = m.group(1), m.group(2)
        return f"{quote}{value[:100]}...{value[-40:]}{quote} ({len(value):,} characters)"

    return _LONG_QUOTED.sub(excerpt, sentence)


def error_text(error: BaseException) -> str:
    """An error's own first line, or its type's name when it has no message: the one reading
    of an exception every sentence built around one starts from."""
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


def first_line(error: BaseException) -> str:
    """The sentence of an error: the root cause's first line (jsonargparse appends usage
    text), or for jsonargparse's own nested report the key path and its complaint; long
    quoted values are excerpted (:func:`bounded`)."""
    root = root_cause(error)
    text = str(root).strip()
    if not text:
        return type(error).__name__
    if _PARSER_KEY.match(text.splitlines()[0]):
        return bounded(parser_sentence(text))
    return bounded(error_text(root))


def command_failed(error: BaseException, kept: Callable[[], str]) -> int:
    """How a command-line entry point (the harness, batch, animation, growth) ends on ``error``:
    bad input is its one sentence and exit status 2; a full disk is one sentence saying what is
    kept (``kept()``, asked only then: the parsed options exist by that time) and exit status 1;
    any other error is not a user's to read as a sentence and is raised again."""
    import sys

    from dasag.files import disk_full_message, is_disk_full

    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
        if not is_disk_full(error):
            raise error
        print(f"error: {disk_full_message(error)}; {kept()}", file=sys.stderr)
        return 1
    print(f"error: {first_line(error)}", file=sys.stderr)
    return 2


def quiet_expected_warnings() -> None:
    """Silence :data:`EXPECTED_WARNINGS` and Lightning's product tips (entry points call this)."""
    quiet_lightning_tips()
    for message in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


class _NoAdverts(logging.Filter):
    """Drops Lightning's product tips (e.g. the cloud-logging one), which are not about the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.getMessage())
        return not (message.startswith("💡 Tip") or "litlogger" in message)


def quiet_loading_bars() -> None:
    """No "Loading weights" bar from transformers per model: noise between a run's own lines.
    Process-wide, so only the command-line entry points call it, never the library."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()


def quiet_lightning_tips() -> None:
    """Keep Lightning's run information (seed, devices) but not its product tips; idempotent."""
    import lightning  # noqa: F401  (creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("lightning"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _NoAdverts) for f in logger.filters):
                logger.addFilter(_NoAdverts())


def quiet_lightning_banners() -> None:
    """Lightning's info lines (seed, accelerator, tips) at WARNING: for loops over many runs."""
    import lightning  # noqa: F401  (creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)


# ------------------------------------------------------------------ building a run
#: Given a scorer's config key and the freshly built (unloaded) scorer ensemble, returns the
#: ensemble to use: the app and the harness pass a cache here so weights load once per process.
ShareScorer = Callable[[str, "ScorerEnsemble"], "ScorerEnsemble"]

#: Seeding and the pyramid's random init use the process-wide RNG: builds take turns.
_BUILD_LOCK = threading.Lock()


@dataclass
class BuiltRun:
    """A run ready for ``trainer.fit(model, datamodule=datamodule)``."""

    model: DirectAscent
    datamodule: PromptDataModule
    trainer: L.Trainer
    #: The resolved image-deciding config, as written into every PNG's metadata.
    run_config: dict[str, Any]

    def fit(self) -> None:
        self.trainer.fit(self.model, datamodule=self.datamodule)


def scorer_key(config: dict[str, Any]) -> str:
    """A stable key for the scorer a config names (class path and init args)."""
    scorer = (config.get("model") or {}).get("scorer") or {}
    return yaml.safe_dump(scorer, sort_keys=True)


def build_run(
    config: dict[str, Any],
    callbacks: Sequence[Callback] = (),
    share_scorer: ShareScorer | None = None,
    trainer_overrides: dict[str, Any] | None = None,
) -> BuiltRun:
    """Parse, check and instantiate ``config`` exactly as ``cli.py fit`` would (no model loads).

    Args:
        config: the mapping a ``cli.py fit --config`` YAML file holds (``base:`` already merged).
        callbacks: extra callbacks for this process only (live progress, timers); they are
            not part of the config and do not change the image.
        share_scorer: swaps in a shared, possibly already loaded scorer for the one built.
        trainer_overrides: Trainer defaults for keys the config leaves out (e.g. no console
            progress bar in a web app); they never change the image.

    Raises:
        ConfigError: one sentence naming the bad value (nothing is loaded or written).
    """
    from jsonargparse import ArgumentError

    from dasag.cli import DasagCLI

    defaults = {**(trainer_overrides or {}), "callbacks": list(callbacks)}
    config = copy.deepcopy(config)  # jsonargparse turns nested mappings into Namespaces in place: the caller's stays plain
    with _BUILD_LOCK, warnings.catch_warnings():
        quiet_expected_warnings()
        try:
            cli = DasagCLI(args=config, run=False, parser_kwargs={"exit_on_error": False}, trainer_defaults=defaults)
        except ConfigError:
            raise
        except (ArgumentError, ValueError, TypeError, FileNotFoundError) as e:
            raise ConfigError(first_line(e)) from None
    model = cli.model
    if share_scorer is not None:
        model.use_scorer(share_scorer(scorer_key(config), model.scorer))
    return BuiltRun(model=model, datamodule=cli.datamodule, trainer=cli.trainer, run_config=model.run_config)
