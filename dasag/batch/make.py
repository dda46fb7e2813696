"""Making one suite image: method config -> :func:`~dasag.core.config.build_run` -> ``fit`` -> PNG + scores.

Each task's configuration is the method's YAML (with its ``base:`` chain), the run's
overrides, the task's seed and prompt, and a quiet Trainer (no logger, checkpoints or
callbacks: the harness writes the outputs itself). Runs are built exactly as
``dasag fit`` builds them, so the suite measures the shipped configs and nothing
hand-wired; every PNG carries the same resolved image config a CLI run writes.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dasag.batch.tasks import Suite, Task, row_digest
from dasag.core.config import deep_merge, load_config
from dasag.core.errors import ConfigError, first_line
from dasag.core.process import threads
from dasag.image.picture import from_uint8
from dasag.image.pyramid import ImagePyramid
from dasag.image.stats import colourfulness, rms_contrast
from dasag.run.build import QUIET_TRAINER, ScorerCache, build_run, scorer_key
from dasag.run.data import PromptSet, inline_prompts
from dasag.run.metadata import constructor_default
from dasag.scorers import heldout
from dasag.scorers.ensemble import ScorerEnsemble
from dasag.scorers.imagenet import resolve_class


@dataclass
class Made:
    """One finished image: its PNG bytes and its ``scores.csv`` row (without the hash)."""

    png: bytes
    row: dict[str, Any]


def _is_ensemble(scorer: Any) -> bool:
    return isinstance(scorer, dict) and str(scorer.get("class_path", "")).endswith("ScorerEnsemble")


def merge_overrides(cfg: dict[str, Any], overrides: dict[str, Any], method: str = "") -> dict[str, Any]:
    """``overrides`` merged over a method's config. A scorer override of ``init_args`` alone
    (``score: logit``, ``input_size: 256``) on a method guided by an ensemble goes to each member
    (the ensemble's own ``weights`` stay the ensemble's); one that names another scorer class
    would silently replace the ensemble, so it is one sentence naming the method."""
    model_over = overrides.get("model") if isinstance(overrides.get("model"), dict) else {}
    scorer_over = model_over.get("scorer")
    base_scorer = (cfg.get("model") or {}).get("scorer")
    if not (isinstance(scorer_over, dict) and _is_ensemble(base_scorer) and not _is_ensemble(scorer_over)):
        return deep_merge(cfg, overrides)
    if "class_path" in scorer_over:
        raise ConfigError(f"--override sets model.scorer to {scorer_over['class_path']}, but method {method or 'of this run'!r} is guided by an "
                          f"ensemble; give only model.scorer.init_args (applied to each member), or leave that method out with --methods.")
    args = dict(scorer_over.get("init_args") or {})
    own = {k: args.pop(k) for k in ("weights",) if k in args}
    members = [deep_merge(m, {"init_args": args}) for m in (base_scorer.get("init_args") or {}).get("scorers", [])]
    rest = {**overrides, "model": {k: v for k, v in model_over.items() if k != "scorer"}}
    cfg = deep_merge(cfg, rest)
    return deep_merge(cfg, {"model": {"scorer": {"init_args": {"scorers": members, **own}}}})


def method_config(config_file: Path, overrides: dict[str, Any] | None = None, single_resolution: bool = False,
                  method: str = "") -> dict[str, Any]:
    """The method's merged YAML with the run's overrides (:func:`merge_overrides`); prompts
    inlined from their file.

    Inlining makes the config (and the metadata in every PNG) self-contained and
    independent of the working directory. ``single_resolution`` turns the pyramid into one
    level at the canvas size (the pixel baseline), whatever size the overrides chose.
    """
    cfg = load_config(config_file)
    if overrides:
        cfg = merge_overrides(cfg, overrides, method)
    if single_resolution:
        pyramid = ((cfg.get("model") or {}).get("pyramid") or {}).get("init_args") or {}
        size = pyramid.get("max_size", constructor_default(ImagePyramid, "max_size"))
        cfg = deep_merge(cfg, {"model": {"pyramid": {"init_args": {"min_size": size}}}})
    return inline_prompts(cfg, config_file)


def task_config(base: dict[str, Any], task: Task, steps: int | None, step_share: float = 1.0) -> dict[str, Any]:
    """One task's config: its seed, its prompt (if it has one) and the step budget (``--steps``,
    else the config's), of which a method with a ``step_share`` below 1 runs that share."""
    cfg = deep_merge(base, {"seed_everything": task.seed})
    if steps is not None:
        cfg = deep_merge(cfg, {"trainer": {"max_steps": steps}})
    if step_share != 1.0:
        budget = (cfg.get("trainer") or {}).get("max_steps")
        if isinstance(budget, int) and not isinstance(budget, bool) and budget >= 1:  # else steps_of says what is wrong
            cfg = deep_merge(cfg, {"trainer": {"max_steps": max(1, round(budget * step_share))}})
    if task.prompt is not None:
        cfg = deep_merge(cfg, {"data": {"positive_prompts": [task.prompt], "negative_prompts": []}})
    if task.overrides:
        cfg = deep_merge(cfg, task.overrides)
    return cfg


def prompts_of(cfg: dict[str, Any]) -> PromptSet:
    data = cfg.get("data") or {}
    try:
        return PromptSet.parse(data.get("positive_prompts") or (), data.get("negative_prompts") or (), where="data.")
    except ValueError as e:
        raise ConfigError(str(e)) from None


def steps_of(cfg: dict[str, Any]) -> int:
    steps = (cfg.get("trainer") or {}).get("max_steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"trainer.max_steps must be a positive integer; got {steps!r}.")
    return steps


#: Built runs kept to check later tasks of the same shape (each holds its pyramid in memory).
MAX_CHECKED_SHAPES = 8


def _shape_key(overrides: dict[str, Any] | None) -> str:
    """A task's overrides without its prompts, as text: tasks with one key build the same run."""
    import json

    rest = dict(overrides or {})
    data = {k: v for k, v in (rest.pop("data", None) or {}).items() if k not in ("positive_prompts", "negative_prompts")}
    if data:
        rest["data"] = data
    return json.dumps(rest, sort_keys=True, default=str)


class Generator:
    """Makes task images; keeps loaded guides and held-out scorers from one task to the next."""

    def __init__(
        self,
        suite: Suite,
        steps: int | None = None,
        overrides: dict[str, Any] | None = None,
        eval_scorers: list[str] | None = None,
        accelerator: str = "cpu",
        device_index: int = 0,
        threads: int | None = None,
    ) -> None:
        self.suite = suite
        #: CPU threads every image and its held-out scores are computed with (their bytes depend on it).
        self.threads = threads
        self.steps = steps
        self.overrides = overrides or {}
        extra = list(eval_scorers or [])
        for name in extra:
            if name in suite.heldout:
                raise ConfigError(f"--eval-scorer {name!r} is already a held-out judge of the {suite.name} suite "
                                  f"({', '.join(suite.heldout)}); name only judges it lacks.")
        try:
            heldout.check_names(extra)
        except ValueError as e:
            raise ConfigError(first_line(e)) from None
        #: The judges the user added: checked against every method's guide by :meth:`validate`.
        self.extra_eval_names = extra
        self.eval_names = list(suite.heldout) + extra
        self.accelerator = accelerator
        self.device_index = device_index
        self._method_configs: dict[str, dict[str, Any]] = {}
        #: The scorer names that guide each method (an ensemble's members), found by :meth:`validate`.
        self.guide_names: dict[str, list[str]] = {}
        #: Every guide score key (``lite0/positive``) of the validated tasks: a batch's score columns.
        self.guide_columns: list[str] = []
        #: The frozen guides, loaded once per scorer config and shared by every task using it.
        self._shared_guide = ScorerCache()
        self._eval: dict[str, Any] = {}
        #: Runs built to check tasks, by everything but their prompts (:meth:`_validate_task`).
        self._checked_shapes: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------ configuration
    def config(self, task: Task) -> dict[str, Any]:
        if task.method not in self._method_configs:
            method = self.suite.method(task.method)
            self._method_configs[task.method] = method_config(method.config, self.overrides, method.single_resolution, task.method)
        return task_config(self._method_configs[task.method], task, self.steps, self.suite.method(task.method).step_share)

    def columns(self) -> list[str]:
        """Every column of this run's ``scores.csv``, in order."""
        cols = list(self.suite.key_columns) + list(self.suite.score_columns)
        if self.suite.name == "batch":  # any scorer a row chooses: its own score keys
            cols += self.guide_columns
        for name in self.eval_names:
            cols += heldout.columns(name, heldout.judge(name))
        return cols + list(self.suite.look_columns) + ["seconds", "device"]

    def validate(self, tasks: list[Task]) -> None:
        """Every config file, step budget and prompt checked, each method's config (with the
        overrides) built once, and every weights file the run reads (guides, held-out scorers)
        read, so a bad value or file is one sentence before the run's folder or run.json exist."""
        checkers = {name: heldout.judge(name) for name in self.eval_names}  # unloaded: prompt checks only
        for task in tasks:
            try:
                self._validate_task(task, checkers)
            except ConfigError as e:
                if task.columns is None:
                    raise
                raise ConfigError(f"{self.task_name(task)}: {e}") from None  # a batch row: which one
        for name in self.eval_names:  # every weights file the run reads, read now: a bad one is one sentence before run.json
            try:
                self._eval_scorer(name)
            except (ValueError, OSError) as e:
                raise ConfigError(f"--eval-scorer {name}: {first_line(e)}") from None

    def _validate_task(self, task: Task, checkers: dict[str, Any]) -> None:
        """One task checked. Its run is built (parsed and constructed: about 0.2 s) once per
        *shape*, the method and the task's overrides without its prompts; a task of a shape already
        built only has its prompts checked against that run's scorer, so a rows file of 100,000
        rows sharing one config is checked in seconds (docs/batch.md) and every row still gets
        the same checks."""
        cfg = self.config(task)
        steps_of(cfg)
        prompts = prompts_of(cfg)
        shape = (task.method, _shape_key(task.overrides))
        model = self._checked_shapes.get(shape)
        if model is None:
            trainer = {**QUIET_TRAINER, "accelerator": "cpu", "devices": 1, "default_root_dir": tempfile.gettempdir()}
            try:
                heldout.check_not_guide(self.extra_eval_names, task.method, cfg["model"].get("scorer"))
            except ValueError as e:
                raise ConfigError(str(e)) from None
            run = build_run(deep_merge(cfg, {"trainer": trainer}))  # parses and constructs; writes nothing
            self.guide_names[task.method] = list(run.model.scorer.names)
            for name, member in zip(run.model.scorer.names, run.model.scorer.members):
                fields = ("positive", "negative", "aesthetic") if member.capabilities.aesthetic else ("positive", "negative")
                self.guide_columns += [k for k in (f"{name}/{f}" for f in fields) if k not in self.guide_columns]
            self._load_guide(cfg, run.model.scorer)
            if len(self._checked_shapes) >= MAX_CHECKED_SHAPES:  # each holds a pyramid: keep the newest few
                self._checked_shapes.pop(next(iter(self._checked_shapes)))
            self._checked_shapes[shape] = run.model
        else:
            try:
                model.check_prompts(prompts)
            except (ValueError, FileNotFoundError) as e:
                raise ConfigError(first_line(e)) from None
        if not prompts.positive and not prompts.images:
            raise ConfigError(f"method {task.method!r} has no positive prompts.")
        for name, checker in checkers.items():
            try:
                checker.validate_prompts(prompts.positive, prompts.negative)
            except ValueError as e:
                raise ConfigError(f"--eval-scorer {name} cannot score method {task.method!r}: {e}") from None

    @staticmethod
    def task_name(task: Task) -> str:
        """How messages name a task: a batch row by its number, else method/sample."""
        return f"row {task.sample + 1}" if task.columns is not None else f"{task.method}/{task.sample}"

    def _load_guide(self, cfg: dict[str, Any], fresh: ScorerEnsemble) -> None:
        """Read the guide's weights now (shared with every task that uses this scorer config)."""
        guide = self._shared_guide(scorer_key(cfg), fresh)
        try:
            for member in guide.members:
                member.load()
        except (ValueError, OSError) as e:
            raise ConfigError(first_line(e)) from None

    # ------------------------------------------------------------------ making
    def _device(self) -> torch.device:
        return torch.device("cuda", self.device_index) if self.accelerator == "gpu" else torch.device("cpu")

    def device_name(self) -> str:
        if self.accelerator == "gpu":
            return torch.cuda.get_device_name(self.device_index)
        return "cpu"

    def _eval_scorer(self, name: str):
        if name not in self._eval:
            self._eval[name] = heldout.judge(name).load().to(self._device())
        return self._eval[name]

    def make(self, task: Task) -> Made:
        """Run the task's ascent and score its (8-bit) image with the guide and held-out models."""
        start = time.perf_counter()
        cfg = self.config(task)
        prompts = prompts_of(cfg)
        devices: Any = [self.device_index] if self.accelerator == "gpu" else 1
        with tempfile.TemporaryDirectory(prefix="dasag-task-") as root:
            trainer = {**QUIET_TRAINER, "accelerator": self.accelerator, "devices": devices, "default_root_dir": root}
            built = build_run(deep_merge(cfg, {"trainer": trainer, "threads": self.threads}), share_scorer=self._shared_guide)
            built.fit()
        made = built.picture({"suite": self.suite.name, "method": task.method, "sample": task.sample})
        picture, guide = made.images[0], made.scores[0]
        quantised = from_uint8(picture).unsqueeze(0)  # held-out models score what the PNG holds, too
        row: dict[str, Any] = {"method": task.method, "sample": task.sample, "seed": task.seed}
        row.update({column: guide.get(column) for column in self.suite.score_columns})
        if task.prompt is not None:
            row["class_name"] = task.prompt
            row["class_index"] = resolve_class(task.prompt)
        if task.columns is not None:  # a batch row: its own columns, every guide score and its config's fingerprint
            row.update(task.columns)
            row.update(guide)
            row["row_digest"] = row_digest(cfg)
        with threads(self.threads):
            for name in self.eval_names:
                row.update(heldout.score(name, self._eval_scorer(name), quantised, list(prompts.positive), list(prompts.negative)))
        if self.suite.look_columns:
            row.update({"look/contrast": rms_contrast(picture), "look/colourfulness": colourfulness(picture)})
        png = made.png()
        row["seconds"] = round(time.perf_counter() - start, 3)
        row["device"] = self.device_name()
        return Made(png=png, row=row)
