"""Build a run (model, data, trainer) from a config dict, exactly as ``cli.py fit`` would.

The app (and any other Python caller) describes a run as the same mapping a YAML config
holds (``seed_everything`` / ``trainer`` / ``model`` / ``data``) and hands it to
:class:`~dasag.cli.DasagCLI` with ``run=False``. Parsing, validation, seeding and
instantiation therefore go through the very code path of the command line, so a config
the app shows can be pasted into ``python cli.py fit --config`` and gives the same image.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import lightning as L
import yaml
from jsonargparse import ArgumentError
from lightning.pytorch.callbacks import Callback

from dasag.cli import ConfigError, DasagCLI, image_config
from dasag.data import PromptDataModule
from dasag.module import DirectAscent
from dasag.scorers.base import Scorer
from dasag.scorers.ensemble import ScorerEnsemble

#: Given a scorer's config key and the freshly built (unloaded) scorer, returns the scorer
#: to use: the app passes a process-wide cache here so weights load once per process.
ShareScorer = Callable[[str, Scorer], Scorer]

#: Seeding and the pyramid's random init use the process-wide RNG: builds take turns.
_BUILD_LOCK = threading.Lock()


@dataclass
class BuiltRun:
    """A run ready for ``trainer.fit(model, datamodule=datamodule)``."""

    model: DirectAscent
    datamodule: PromptDataModule
    trainer: L.Trainer
    #: The resolved image-deciding config, as the CLI writes into PNG metadata.
    run_config: dict[str, Any]


def to_yaml(config: dict[str, Any]) -> str:
    """The config as YAML text for ``python cli.py fit --config FILE`` (key order kept)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def _first_line(error: BaseException) -> str:
    """jsonargparse errors carry nested usage text; the first meaningful line is the sentence."""
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


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
    """Parse, check and instantiate ``config`` through :class:`DasagCLI` (no model loads).

    Args:
        config: the mapping a ``cli.py fit --config`` YAML file holds.
        callbacks: extra callbacks for this process only (e.g. live progress); they are
            not part of the config and do not change the image.
        share_scorer: swaps in a shared, possibly already loaded scorer for the one built.
        trainer_overrides: Trainer defaults for keys the config leaves out (e.g. no console
            progress bar in a web app); they never change the image.

    Raises:
        ConfigError: one sentence naming the bad value (nothing is loaded or written).
    """
    defaults = {"log_every_n_steps": 10, **(trainer_overrides or {}), "callbacks": list(callbacks)}
    with _BUILD_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*args.*parameter is intended.*")
        try:
            cli = DasagCLI(
                args=config,
                run=False,
                parser_kwargs={"exit_on_error": False},
                trainer_defaults=defaults,
            )
        except ConfigError:
            raise
        except (ArgumentError, ValueError, TypeError, FileNotFoundError) as e:
            raise ConfigError(_first_line(e)) from None
    model, datamodule = cli.model, cli.datamodule
    prompts = datamodule.prompts
    try:  # what DasagCLI.before_fit checks: prompts against the scorer, before any weights load
        model.scorer.validate_prompts(prompts.positive, prompts.negative)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if share_scorer is not None:
        members = model.scorer.members
        if len(members) == 1:
            model.scorer = ScorerEnsemble([share_scorer(scorer_key(config), members[0])], model.scorer.weights)
    resolved = yaml.safe_load(cli.parser.dump(cli.config, skip_none=False, skip_validation=True))
    resolved.pop("config", None)
    run_config = image_config(resolved, int(cli.config.trainer.max_steps))
    model.run_config = run_config
    return BuiltRun(model=model, datamodule=datamodule, trainer=cli.trainer, run_config=run_config)
