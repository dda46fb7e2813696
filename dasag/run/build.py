"""The one way a config becomes a run: :func:`build_run`, used by ``dasag fit``, the app, the
task engine (quality suites and batches), animation, growth and the speed bench.

A run is described by one mapping (or the command line's options) with the structure of a
``dasag fit --config`` file: ``seed_everything`` / ``trainer`` / ``model`` / ``data``.
:class:`DasagCLI` is a thin ``LightningCLI`` that parses it into :class:`DirectAscent`,
:class:`PromptDataModule` and a Trainer, and adds what no single constructor can:

* every value is checked before anything is built or written, and a bad one is one sentence
  (:class:`~dasag.core.errors.ConfigError`), including a checkpoint to continue from;
* the schedule annealing callback is part of every run (:class:`~dasag.run.callbacks.ScheduleAnnealing`);
* the config values that decide the image and differ from the constructors' defaults are handed
  to the module, so every PNG records how to make it again (:mod:`dasag.run.metadata`).
"""

from __future__ import annotations

import copy
import importlib
import json
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dasag.core.errors import ConfigError, first_line, unaccepted_argument
from dasag.core.files import check_output_dir, disk_full_message, is_disk_full, remove_stale_temps
from dasag.core.process import DETERMINISTIC_THREADS, check_threads, host_memory_bytes, quiet_expected_warnings, threads
from dasag.core.ranges import STEPS
from dasag.core.version import __version__
from dasag.run.callbacks import ScheduleAnnealing
from dasag.run.checkpoint_io import AtomicCheckpointIO
from dasag.run.data import PromptDataModule
from dasag.run.help import HelpFormatter
from dasag.run.metadata import image_config
from dasag.run.module import DirectAscent
from dasag.run.picture import Picture, finished_picture
from dasag.run.progress import use_step_progress_bars
from dasag.run.resume import check_resume, read_checkpoint
from dasag.run.run_folder import RunLogger, finished_files
from dasag.scorers.ensemble import ScorerEnsemble

#: Lightning logs every 50 steps by default; a run here is often 60 steps long.
LOG_EVERY_N_STEPS = 10

#: Trainer settings of a run whose driver writes every output itself (the task engine, animation,
#: growth): no logger, checkpoints, callbacks or bar. ``deterministic`` is Lightning's switch:
#: deterministic algorithms, no cuDNN benchmarking and the cuBLAS workspace setting, all set when
#: the Trainer is built, before the run's first GPU operation.
QUIET_TRAINER: dict[str, Any] = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "callbacks": [],
    "deterministic": True,
}


class DasagCLI(LightningCLI):
    """LightningCLI for :class:`DirectAscent` and :class:`PromptDataModule`, without subcommands.

    Before instantiation it checks what no single constructor can (the run's length, the output
    folder, the pyramid's memory, a checkpoint to continue from); right after, and before any
    weights load or any file is written, it checks the prompts against the scorer, adds the
    schedule annealing callback and gives the module the config its pictures record.
    """

    def __init__(self, args: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("seed_everything_default", 0)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        # No model summary by default: a parameter table with "FLOPs 0" rows tells a user nothing about the image.
        kwargs["trainer_defaults"] = {"log_every_n_steps": LOG_EVERY_N_STEPS, "enable_model_summary": False, **kwargs.get("trainer_defaults", {})}
        # A bad option raises one sentence (no usage text), and a misspelt prefix (--trainer.max_step) is refused, not completed.
        kwargs["parser_kwargs"] = {"exit_on_error": False, "allow_abbrev": False, "prog": "dasag fit", "formatter_class": HelpFormatter,
                                   "description": "Make a picture by direct ascent from a run config.", **kwargs.get("parser_kwargs", {})}
        super().__init__(DirectAscent, PromptDataModule, args=args, run=False, auto_configure_optimizers=False, **kwargs)

    #: The ``--ckpt_path`` contents, read once before anything is built (``None``: no checkpoint given).
    _checkpoint: dict[str, Any] | None = None

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--ckpt_path", type=str | None, default=None,
                            help="continue a stopped run from this checkpoint (its folder's checkpoints/last.ckpt), with the same config")
        parser.add_argument("--threads", type=int | None, default=None,
                            help=f"CPU threads of the run; reductions sum in a thread-dependent order, so a CPU picture's bytes depend on it "
                                 f"(default: {DETERMINISTIC_THREADS} when trainer.deterministic is true, else all cores)")

    def _set_seed(self) -> None:
        """LightningCLI seeds before any other check: a bad seed is one sentence, not numpy's bounds message."""
        check_seed(self.config.get("seed_everything"))
        super()._set_seed()

    def before_instantiate_classes(self) -> None:
        check_run_config(self.config, host_memory_bytes())  # the pyramid is built in host memory first
        follow_switched_off(self.config.trainer)
        count = self.config.get("threads")
        if count is not None:
            check_threads(count, "--threads")
        path = self.config.get("ckpt_path")
        if path:  # a missing, empty, truncated or unsafe checkpoint: one sentence before anything is built or written
            try:
                self._checkpoint = read_checkpoint(path)
            except (ValueError, FileNotFoundError) as e:
                raise ConfigError(first_line(e)) from None

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if type(self.trainer.logger) is TensorBoardLogger:  # Lightning's default logger: give it an atomic version folder
            self.trainer.loggers = [RunLogger.replacing(self.trainer.logger)]
        if type(self.trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # Lightning's default: whole or absent on any filesystem
            self.trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if not any(isinstance(c, ScheduleAnnealing) for c in self.trainer.callbacks):
            self.trainer.callbacks.insert(0, ScheduleAnnealing())  # every run anneals; a config may name it only to configure it
        use_step_progress_bars(self.trainer.callbacks)  # "step 12/60" and live scores, not "Epoch 0/-2" and v_num
        config = self.config
        try:  # e.g. an unknown ImageNet class, a checkpoint of another pyramid: before any weights load or file is written
            self.model.check_prompts(self.datamodule.prompts)
            self.model.check_optimizer()
            for callback in self.trainer.callbacks:  # a callback that needs something of the model says so now, not in setup
                if callable(getattr(callback, "check_model", None)):
                    callback.check_model(self.model)
            if self._checkpoint is not None:
                check_resume(config["ckpt_path"], self._checkpoint, self.model, int(config.trainer.max_steps))
        except (ValueError, FileNotFoundError) as e:
            raise ConfigError(first_line(e)) from None
        resolved = yaml.safe_load(self.parser.dump(config, skip_none=False, skip_validation=True))
        self.model.run_config = image_config(resolved, int(config.trainer.max_steps))

    def load_weights(self) -> None:
        """Read every weights file the run needs (scorer, aesthetic head, style embedding,
        reference images) now, before the run's folder exists: a corrupt, truncated or
        mismatched file is one sentence and leaves nothing behind."""
        try:
            self.model.use_prompts(self.datamodule.prompts)
        except (ValueError, OSError) as e:
            raise ConfigError(first_line(e)) from None


def _is_a(class_path: Any, base: type) -> bool:
    module, _, name = str(class_path).rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(found, type) and issubclass(found, base)


def follow_switched_off(trainer: Any) -> None:
    """The config's own callbacks follow the trainer's switches: ``trainer.enable_checkpointing: false``
    leaves out its ``ModelCheckpoint`` callbacks, ``trainer.logger: false`` those that write to a logger
    (``LearningRateMonitor``, ``DeviceStatsMonitor``). A user switching checkpoints or logging off for one
    run of the demo means the demo's callbacks too; Lightning refuses the pair (the monitor only once the
    run has started)."""
    from lightning.pytorch.callbacks import DeviceStatsMonitor, LearningRateMonitor, ModelCheckpoint

    callbacks = trainer.get("callbacks")
    if not callbacks:
        return
    unwanted = ((ModelCheckpoint,) if trainer.get("enable_checkpointing") is False else ()) + \
               ((LearningRateMonitor, DeviceStatsMonitor) if trainer.get("logger") is False else ())
    items = callbacks if isinstance(callbacks, list) else [callbacks]
    kept = [c for c in items if not any(_is_a(getattr(c, "class_path", None), base) for base in unwanted)]
    if len(kept) < len(items):
        trainer.callbacks = kept


class RunFailed(RuntimeError):
    """A run that started and could not finish (e.g. a full disk); the message is the one sentence shown."""


def _chain(error: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while error is not None and error not in out:
        out.append(error)
        error = error.__cause__ or error.__context__
    return out


def disk_full_sentence(error: OSError, step: int, folder: Path | None, removed: bool) -> str:
    """What ran out, and what is left of the run's ``folder`` (``removed``: it held nothing computed)."""
    what = disk_full_message(error)
    if folder is None:
        return f"{what}; the run stopped after {step} steps."
    if removed:
        return f"{what}; the run stopped after {step} steps and its folder {str(folder)!r}, which held nothing computed, was removed."
    kept = finished_files(folder)
    names = ", ".join(str(p.relative_to(folder)) for p in kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
    last = max((p for p in kept if p.suffix == ".ckpt"), key=lambda p: p.stat().st_mtime, default=None)
    go_on = f"; free some space and continue with --ckpt_path {str(last)!r}" if last else ""
    return f"{what}; the run stopped after {step} steps, and {str(folder)!r} keeps what it finished ({names}){go_on}."


def check_run_config(config: Any, available_memory: int | None = None) -> None:
    """Checks on the parsed config that no single constructor can make (cross-key ones, and the
    pyramid's size against ``available_memory`` bytes, before it is allocated)."""
    steps = config.trainer.max_steps
    if steps is None or int(steps) < 1:
        raise ConfigError(f"trainer.max_steps must be a positive integer (it is the run's length; every schedule reads it); got {steps}.")
    try:
        STEPS.check(steps, "trainer.max_steps", "the run's length")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    check_output_dir(config.trainer.default_root_dir)
    check_seed(config.get("seed_everything"))
    pyramid = config.get("model.pyramid.init_args") or {}
    sizes = [pyramid.get(k) for k in ("max_size", "num_images", "min_size")]
    if all(isinstance(v, int) for v in sizes):
        from dasag.image.pyramid import check_fits_in_memory

        step = pyramid.get("level_step")
        try:
            check_fits_in_memory(*sizes, available_memory, step if isinstance(step, int) and step > 0 else None)
        except ValueError as e:
            raise ConfigError(str(e)) from None


def check_seed(seed: Any) -> None:
    """``seed_everything``: a whole number numpy can seed with, or true/false/null (Lightning's own choices)."""
    if not isinstance(seed, bool) and seed is not None and not (isinstance(seed, int) and 0 <= seed < 2**32):
        raise ConfigError(f"seed_everything must be a whole number from 0 to {2**32 - 1} (or true for a random one); got {seed!r}.")


# ------------------------------------------------------------------ building a run
#: Given a scorer's config key and the freshly built (unloaded) scorer ensemble, returns the
#: ensemble to use: the app and the task engine pass a cache here so weights load once per process.
ShareScorer = Callable[[str, ScorerEnsemble], ScorerEnsemble]

class ScorerCache:
    """Scorers shared by the runs of one process, so each model's weights load once: pass it as
    :func:`build_run`'s ``share_scorer``. Keyed by the scorer's config (:func:`scorer_key`); runs
    that share a scorer take turns (a scorer holds the targets of one prompt set at a time), each
    with :meth:`lock` held while it runs."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._scorers: dict[str, tuple[ScorerEnsemble, threading.Lock]] = {}

    def __call__(self, key: str, fresh: ScorerEnsemble) -> ScorerEnsemble:
        """The scorer stored under ``key``; ``fresh`` (not loaded yet) is stored if none is."""
        with self._guard:
            if key not in self._scorers:
                self._scorers[key] = (fresh, threading.Lock())
            return self._scorers[key][0]

    def lock(self, scorer: ScorerEnsemble) -> threading.Lock | None:
        """The lock a run holds while it uses ``scorer`` (``None``: not one of these)."""
        with self._guard:
            return next((lock for stored, lock in self._scorers.values() if stored is scorer), None)

    def __len__(self) -> int:
        return len(self._scorers)

    def __iter__(self) -> Iterator[ScorerEnsemble]:
        """The stored scorers, in the order they were first asked for."""
        with self._guard:
            return iter([scorer for scorer, _ in self._scorers.values()])


#: Seeding and the pyramid's random init use the process-wide RNG: builds take turns.
_BUILD_LOCK = threading.Lock()


@dataclass
class BuiltRun:
    """A run ready to :meth:`fit`: the module, its prompts, its Trainer and what it continues from."""

    model: DirectAscent
    datamodule: PromptDataModule
    trainer: L.Trainer
    #: The image-deciding config values that differ from the defaults, as written into every PNG.
    run_config: dict[str, Any]
    #: A checkpoint to continue from (``--ckpt_path``), already checked against this run.
    ckpt_path: str | None = None
    #: CPU threads the run and its pictures are computed with (``None``: the process's own count).
    threads: int | None = None

    def fit(self) -> None:
        """Run the ascent. A run that cannot finish (the trainer refuses its settings, the disk
        fills) is :class:`RunFailed`, whose sentence says what its folder keeps."""
        try:
            with threads(self.threads):
                self.trainer.fit(self.model, datamodule=self.datamodule, ckpt_path=self.ckpt_path, weights_only=True)
        except MisconfigurationException as e:  # raised inside fit, after the run's folder exists: not a bad option
            raise RunFailed(f"the run stopped: {first_line(e)}") from None
        except BaseException as e:
            full = next((x for x in _chain(e) if is_disk_full(x)), None)
            if full is None:
                raise
            logger = self.trainer.logger if isinstance(self.trainer.logger, RunLogger) else None
            removed = logger.discard_if_nothing_computed() if logger is not None else False
            folder = logger.created_dir if logger is not None else None
            raise RunFailed(disk_full_sentence(full, self.trainer.global_step, folder, removed)) from None

    def picture(self, extra: dict[str, Any] | None = None) -> Picture:
        """The finished run's picture as it is saved (:func:`~dasag.run.picture.finished_picture`),
        computed with the run's threads so its scores, like its pixels, are the same on every machine."""
        with threads(self.threads):
            return finished_picture(self.model, self.trainer.global_step, extra)

    @property
    def output_dir(self) -> Path:
        """Where the run writes its files: the logger's version folder, else ``trainer.default_root_dir``."""
        return Path(self.trainer.log_dir or self.trainer.default_root_dir)


def _import_path_exists(path: str) -> bool:
    module, _, name = path.rpartition(".")
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def _public_name(path: str) -> str | None:
    """Where a dasag class or function of an older version lives now: ``dasag.<name>`` or ``dasag.scorers.<name>``."""
    import dasag.scorers

    name = path.rpartition(".")[2]
    if name in dasag.scorers.__all__:
        return f"dasag.scorers.{name}"
    for candidate in (f"dasag.{name}", f"dasag.run.module.{name}"):
        if _import_path_exists(candidate):
            return candidate
    return None


def check_import_paths(value: Any, key: str = "") -> None:
    """Every dasag import path a config names (a ``class_path``, a callable such as ``model.optimizer``)
    must exist: a user's config of an older version names classes by module paths that moved, and
    gets one sentence naming the path to write instead."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_import_paths(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_import_paths(v, f"{key}[{i}]")
    elif isinstance(value, str) and value.startswith("dasag.") and "." in value[6:] and " " not in value and not _import_path_exists(value):
        new = _public_name(value)
        hint = f"write {new}" if new else "see the classes in docs/architecture.md"
        raise ConfigError(f"{key}: {value!r} does not exist (dasag {__version__} moved its modules into layers); {hint}.")


def _argv_configs(argv: Sequence[str]) -> list[Any]:
    """The config mappings command-line options hold: each ``--config`` YAML text, and each ``--KEY VALUE`` as ``{KEY: VALUE}``."""
    out: list[Any] = []
    for flag, value in zip(argv, argv[1:]):
        if flag in ("--config", "-c"):
            try:
                out.append(yaml.safe_load(value))
            except yaml.YAMLError:
                continue  # the parser names the problem
        elif flag.startswith("--") and not value.startswith("--"):
            out.append({flag[2:]: value})
    return out


def named_scorer(value: Any) -> Any:
    """A ``model.scorer`` value with every scorer written by its registry name (``lite0``,
    ``timm:resnet50.a1_in1k``, ``hf:google/siglip2-so400m-patch14-384``; an ensemble's members too)
    replaced by the mapping the name stands for; an unknown name is one sentence."""
    from dasag.scorers import registry

    if isinstance(value, str):
        try:
            return registry.get(value, "model.scorer").config()
        except ValueError as e:
            raise ConfigError(str(e)) from None
    if isinstance(value, dict) and isinstance(value.get("init_args"), dict) and isinstance(value["init_args"].get("scorers"), list):
        members = [named_scorer(m) for m in value["init_args"]["scorers"]]
        return {**value, "init_args": {**value["init_args"], "scorers": members}}
    return value


def with_named_scorers(config: dict[str, Any]) -> dict[str, Any]:
    """A run config whose scorer (or an ensemble member) may be a registry name, as mappings (see :func:`named_scorer`),
    each of whose libraries imports here (:func:`check_scorer_libraries`)."""
    model = config.get("model")
    if not isinstance(model, dict) or "scorer" not in model:
        return config
    scorer = named_scorer(model["scorer"])
    check_scorer_libraries(scorer)
    return config if scorer is model["scorer"] else {**config, "model": {**model, "scorer": scorer}}


def check_scorer_libraries(scorer: Any) -> None:
    """Construct each scorer a ``model.scorer`` mapping names (an ensemble's members too; no weights are
    read) to hear from one whose library cannot be imported here (open_clip or timm missing, or a
    torchvision that does not fit torch): the parser would report it only as "does not correspond to a
    subclass of Scorer". Any other complaint is left to the parser, which names the key."""
    from dasag.scorers.optional import ZooLibraryError

    if not isinstance(scorer, dict) or not isinstance(scorer.get("class_path"), str):
        return
    args = scorer.get("init_args") if isinstance(scorer.get("init_args"), dict) else {}
    if isinstance(args.get("scorers"), list):
        for member in args["scorers"]:
            check_scorer_libraries(member)
        return
    module, _, name = scorer["class_path"].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
        cls(**args)
    except ZooLibraryError as e:
        raise ConfigError(str(e)) from None
    except Exception:  # noqa: BLE001  anything else: the parser's own sentence, which names the key
        return


def _argv_with_named_scorers(argv: Sequence[str]) -> list[str]:
    """Command-line options with scorer names expanded: in each ``--config`` YAML text, as the value of
    ``--model.scorer NAME`` (or ``--model.scorer=NAME``) and in an ensemble's ``--model.scorer.init_args.scorers`` list."""
    out = list(argv)
    for i, arg in enumerate(out):
        value_at = i + 1 if arg in ("--config", "-c", "--model.scorer", "--model.scorer.init_args.scorers") else None
        if arg.startswith("--model.scorer="):
            name = arg.split("=", 1)[1]
            if not name.lstrip().startswith(("{", "[")):
                out[i] = "--model.scorer=" + json.dumps(named_scorer(yaml.safe_load(name) if name else name))
            continue
        if value_at is None or value_at >= len(out):
            continue
        text = out[value_at]
        if arg == "--model.scorer":
            if not text.lstrip().startswith(("{", "[")):
                scorer = named_scorer(text)
                check_scorer_libraries(scorer)
                out[value_at] = json.dumps(scorer)
            continue
        if arg == "--model.scorer.init_args.scorers":
            try:
                members = yaml.safe_load(text)
            except yaml.YAMLError:
                continue  # the parser names the problem
            if isinstance(members, list) and any(isinstance(m, str) for m in members):
                members = [named_scorer(m) for m in members]
                for member in members:
                    check_scorer_libraries(member)
                out[value_at] = json.dumps(members)
            continue
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # the parser names the problem
        if isinstance(loaded, dict):
            expanded = with_named_scorers(loaded)
            if expanded is not loaded:
                out[value_at] = yaml.safe_dump(expanded, sort_keys=False)
    return out


def scorer_key(config: dict[str, Any]) -> str:
    """A stable key for the scorer a config names (class path and init args)."""
    scorer = (config.get("model") or {}).get("scorer") or {}
    return yaml.safe_dump(scorer, sort_keys=True)


def _init_arguments(class_path: str) -> list[str]:
    """The arguments a config may give a class in ``init_args`` (``[]`` when it cannot be looked at)."""
    import inspect

    module, _, name = class_path.rpartition(".")
    try:
        parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters.values()
    except (ImportError, AttributeError, TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def unaccepted_argument_sentence(key: str, class_path: str, argument: str) -> str:
    """An ``init_args`` entry the configured class does not take, in one sentence: the class and its
    arguments, and for an ensemble the key on each member when a member class takes it (``drop_connect``
    belongs to each classifier, not to the ensemble)."""
    import dasag.scorers

    names = _init_arguments(class_path)
    sentence = f"{key}: {class_path} takes no argument {argument!r}" + (f" (its arguments: {', '.join(names)})" if names else "")
    if "scorers" in names:  # an ensemble: what a member takes is set on that member
        takers = sorted(name for name, value in vars(dasag.scorers).items() if isinstance(value, type) and issubclass(value, dasag.scorers.Scorer)
                        and argument in _init_arguments(f"{value.__module__}.{name}"))
        if takers:
            sentence += (f"; {argument} is an argument of each member ({', '.join(takers)} {'takes' if len(takers) == 1 else 'take'} it): "
                         f"set {key}.init_args.scorers[i].init_args.{argument}")
    return sentence + "."


def _clear_killed_writes(ckpt_path: str | None) -> None:
    """The temp files a killed run left in its own folder, cleared when it is continued from its checkpoint."""
    if ckpt_path and "://" not in str(ckpt_path) and Path(ckpt_path).parent.name == "checkpoints":
        run = Path(ckpt_path).parent.parent
        for folder in (run, run / "checkpoints", run / "images"):
            remove_stale_temps(folder)


def build_run(
    config: dict[str, Any] | Sequence[str],
    callbacks: Sequence[Callback] = (),
    share_scorer: ShareScorer | None = None,
    trainer_overrides: dict[str, Any] | None = None,
    load_weights: bool = False,
) -> BuiltRun:
    """Parse, check and instantiate a run: ``config`` is the mapping a ``dasag fit --config`` file
    holds (``base:`` already merged), or the command line's options (``["--config", FILE, ...]``).

    Args:
        callbacks: extra callbacks for this process only (live progress, timers); they are
            not part of the config and do not change the image.
        share_scorer: swaps in a shared, possibly already loaded scorer for the one built.
        trainer_overrides: Trainer defaults for keys the config leaves out (e.g. no console
            progress bar in a web app); they never change the image.
        load_weights: read every weights file now (``dasag fit``), so a bad one is one sentence
            before the run's folder exists; callers that share scorers load them themselves.

    Raises:
        ConfigError: one sentence naming the bad value (nothing is loaded or written).
    """
    from jsonargparse import ArgumentError

    config = with_named_scorers(config) if isinstance(config, dict) else _argv_with_named_scorers(config)
    for item in [config] if isinstance(config, dict) else _argv_configs(config):
        check_import_paths(item)
    defaults = {**(trainer_overrides or {}), "callbacks": list(callbacks)}
    # jsonargparse turns nested mappings into Namespaces in place: the caller's stays plain
    args = copy.deepcopy(config) if isinstance(config, dict) else list(config)
    with _BUILD_LOCK, warnings.catch_warnings():
        quiet_expected_warnings()
        try:
            cli = DasagCLI(args=args, trainer_defaults=defaults)
        except ConfigError:
            raise
        except (ArgumentError, ValueError, TypeError, FileNotFoundError, MisconfigurationException) as e:
            unaccepted = next((found for x in _chain(e) if (found := unaccepted_argument(str(x)))), None)
            reason = unaccepted_argument_sentence(*unaccepted) if unaccepted else first_line(e)
            if isinstance(e, MisconfigurationException):  # building the Trainer, e.g. --trainer.accelerator gpu on a CPU machine
                reason = f"the trainer settings are not possible here: {reason.rstrip('!.')} (trainer.accelerator auto or cpu always is)."
            raise ConfigError(reason) from None
    model = cli.model
    if share_scorer is not None:
        model.use_scorer(share_scorer(scorer_key(config if isinstance(config, dict) else {}), model.scorer))
    if load_weights:
        cli.load_weights()
    ckpt_path = cli.config.get("ckpt_path")
    count = cli.config.get("threads") or (DETERMINISTIC_THREADS if cli.config.trainer.get("deterministic") is True else None)
    _clear_killed_writes(ckpt_path)
    return BuiltRun(model=model, datamodule=cli.datamodule, trainer=cli.trainer, run_config=model.run_config, ckpt_path=ckpt_path,
                    threads=count)
