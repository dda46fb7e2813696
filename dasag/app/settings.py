"""What the app's form holds, and how it becomes a ``dasag fit`` config mapping.

Kept apart from the Streamlit page so the mapping from controls to config keys is plain
Python, tested without a browser, and the page only draws widgets. Nothing here states a
default of its own: the form starts from the shipped ``configs/demo.yaml`` and, for what
that config leaves out, from the constructors' defaults (read from their signatures). The
config produced here is built by :func:`dasag.core.config.build_run`, the CLI's own code path,
so every constructor checks its value there; :meth:`AppSettings.check` only checks what
the form adds (its choices, blank prompt rows, the jitter margin of the chosen canvas).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from dasag.core.config import CONFIGS, load_config
from dasag.core.errors import ConfigError
from dasag.core.schedules import Constant, ExponentialDecay, ExponentialWarmup, Linear, Schedule, as_schedule
from dasag.image.augment import Augmentations
from dasag.image.pyramid import PRESETS, ImagePyramid
from dasag.objective.loss import Objective
from dasag.run.metadata import constructor_default
from dasag.run.module import ADAM_BETAS, ADAM_LR
from dasag.scorers import registry
from dasag.scorers.efficientnet import EfficientNetLite

#: Schedule kind in the form -> its class.
SCHEDULE_CLASSES: dict[str, type[Schedule]] = {
    "constant": Constant, "linear": Linear, "exponential_decay": ExponentialDecay, "exponential_warmup": ExponentialWarmup,
}


@lru_cache(maxsize=1)
def demo_config() -> dict[str, Any]:
    """The shipped offline demo, the form's starting point."""
    return load_config(CONFIGS / "demo.yaml")


@lru_cache(maxsize=1)
def robust_recipe() -> dict[str, dict[str, Any]]:
    """The quality recipe's settings (``configs/quality/robust.yaml``), per part: pyramid, augment."""
    model = load_config(CONFIGS / "quality" / "robust.yaml")["model"]
    return {part: dict(model[part]["init_args"]) for part in ("pyramid", "augment")}


@lru_cache(maxsize=1)
def sharing_recipe() -> dict[str, dict[str, Any]]:
    """Coarse levels first and the everyday edits as augmentations (``configs/quality/coarse.yaml`` and
    ``shared.yaml``), per part: pyramid, augment."""
    coarse = load_config(CONFIGS / "quality" / "coarse.yaml")["model"]
    shared = load_config(CONFIGS / "quality" / "shared.yaml")["model"]
    return {"pyramid": dict(coarse["pyramid"]["init_args"]), "augment": dict(shared["augment"]["init_args"])}


def _demo_uses(recipe: dict[str, dict[str, Any]]) -> bool:
    model = demo_config()["model"]
    return all(model[part].get("init_args", {}).get(k) == v for part, values in recipe.items() for k, v in values.items())


def _demo_uses_sharing_recipe() -> bool:
    return _demo_uses(sharing_recipe())


def _demo_uses_robust_recipe() -> bool:
    """robust.yaml's settings in the demo, but for those the sharing recipe, stacked after it there, sets (its zoom)."""
    recipe = robust_recipe()
    if _demo_uses_sharing_recipe():
        later = sharing_recipe()
        recipe = {part: {k: v for k, v in values.items() if k not in later[part]} for part, values in recipe.items()}
    return _demo_uses(recipe)


@dataclass
class ScheduleSetting:
    """One scheduled value: ``kind`` from start to end at ``rate`` (constant uses ``start``).

    ``kind == "auto"`` (jitter only) leaves the library default: the margin annealed to 0.
    """

    kind: str = "constant"
    start: float = 0.0
    end: float = 0.0
    rate: float = constructor_default(ExponentialWarmup, "rate")

    @classmethod
    def of(cls, schedule: Schedule | float) -> ScheduleSetting:
        """The form's view of a schedule object (or number)."""
        schedule = as_schedule(schedule)
        kind = next(k for k, c in SCHEDULE_CLASSES.items() if isinstance(schedule, c))
        if isinstance(schedule, Constant):
            return cls(kind, schedule.value, schedule.value)
        return cls(kind, schedule.start, schedule.end, getattr(schedule, "rate", cls.rate))

    def check(self, name: str, allow_auto: bool = False) -> None:
        kinds = tuple(SCHEDULE_CLASSES) + (("auto",) if allow_auto else ())
        if self.kind not in kinds:
            raise ConfigError(f"{name} schedule must be one of {', '.join(kinds)}; got {self.kind!r}.")

    def to_config(self) -> Any:
        """A number for a constant, else a ``class_path``/``init_args`` mapping."""
        if self.kind == "constant":
            return float(self.start)
        args: dict[str, float] = {"start": float(self.start), "end": float(self.end)}
        if self.kind != "linear":
            args["rate"] = float(self.rate)
        return {"class_path": f"dasag.{SCHEDULE_CLASSES[self.kind].__name__}", "init_args": args}


@dataclass
class Augmentation:
    """An augmentation's on/off switch and its schedule."""

    enabled: bool = True
    schedule: ScheduleSetting = field(default_factory=ScheduleSetting)


def _augmentation(name: str) -> Augmentation:
    """An augmentation's default from the constructor (jitter's ``None`` is "auto": margin -> 0)."""
    default = constructor_default(Augmentations, name)
    return Augmentation(True, ScheduleSetting("auto") if default is None else ScheduleSetting.of(default))


def text_scorer_aesthetic() -> ScheduleSetting:
    """The aesthetic weight a text-image scorer starts with: DAS-AG's (``configs/das_ag.yaml``)."""
    schedule = load_config(CONFIGS / "das_ag.yaml")["model"]["objective"]["init_args"]["aesthetic_weight"]
    return ScheduleSetting(kind=_KINDS[schedule["class_path"]], **schedule["init_args"])


#: Schedule class path in a config -> its kind in the form.
_KINDS = {f"dasag.{c.__name__}": kind for kind, c in SCHEDULE_CLASSES.items()}


def _demo(*keys: str) -> Any:
    value: Any = demo_config()
    for key in keys:
        value = value[key]
    return value


def _demo_resolution() -> int:
    pyramid = _demo("model", "pyramid", "init_args")
    return pyramid["max_size"] - 2 * pyramid["max_shift"]


@dataclass
class AppSettings:
    """Every control of the page; defaults are the offline demo's (``configs/demo.yaml``)."""

    positive_prompts: list[str] = field(default_factory=lambda: list(_demo("data", "positive_prompts")))
    negative_prompts: list[str] = field(default_factory=list)
    scorer: str = constructor_default(EfficientNetLite, "variant")
    #: Optional hub id / local directory and aesthetic head for SigLIP and CLIP ("" = configured default).
    model_path: str = ""
    aesthetic_head: str = ""
    resolution: int = field(default_factory=_demo_resolution)
    #: The quality recipe (zoom + flip, decorrelated colour, contrast; docs/quality.md), on as in the demo.
    robust_recipe: bool = field(default_factory=_demo_uses_robust_recipe)
    #: Coarse levels first and the everyday edits as augmentations (docs/quality.md), on as in the demo.
    sharing_recipe: bool = field(default_factory=_demo_uses_sharing_recipe)
    steps: int = field(default_factory=lambda: int(_demo("trainer", "max_steps")))
    batch_size: int = constructor_default(Augmentations, "batch_size")
    learning_rate: float = ADAM_LR
    prompt_weight: float = constructor_default(Objective, "prompt_weight")
    arctanh: bool = constructor_default(Objective, "arctanh")
    reverse_aesthetic: bool = constructor_default(Objective, "reverse_aesthetic")
    aesthetic: ScheduleSetting = field(default_factory=lambda: ScheduleSetting.of(constructor_default(Objective, "aesthetic_weight")))
    deterministic: bool = True
    seed: int = 0
    #: Draw a new seed at every Generate (the original app's behaviour with "Set Seed" unticked).
    random_seed: bool = False
    interpolation: str = constructor_default(ImagePyramid, "interpolation")
    tv_weight: float = constructor_default(Objective, "tv_weight")
    l1_weight: float = constructor_default(Objective, "l1_weight")
    jitter: Augmentation = field(default_factory=lambda: _augmentation("jitter"))
    color_shift: Augmentation = field(default_factory=lambda: _augmentation("color_shift"))
    noise: Augmentation = field(default_factory=lambda: _augmentation("noise"))
    output_dir: str = "runs/app"
    preview_every: int = 5

    @property
    def text_scorer(self) -> bool:
        try:
            return registry.get(self.scorer).text
        except ValueError:
            return False

    def prompts(self) -> tuple[list[str], list[str]]:
        """Prompt lists without the blank rows an "Add" click leaves behind."""
        clean = lambda xs: [str(p).strip() for p in xs if str(p).strip()]  # noqa: E731
        return clean(self.positive_prompts), clean(self.negative_prompts)

    def for_run(self, draw: Callable[[], int] | None = None) -> AppSettings:
        """The settings one Generate runs with: a freshly drawn seed when ``random_seed``, so the
        seed used is in the config (and so in the PNG's metadata and the copied YAML)."""
        if not self.random_seed:
            return self
        import secrets

        return replace(self, seed=int((draw or (lambda: secrets.randbelow(2**32)))()))

    def check(self) -> None:
        """What only the form can get wrong; every other value is checked by its constructor
        when :func:`~dasag.core.config.build_run` builds the config. Raises :class:`ConfigError`."""
        try:
            registry.check(self.scorer)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        positive, _ = self.prompts()
        if not positive:
            what = "a text prompt" if self.text_scorer else "an ImageNet class name (e.g. goldfish) or index 0..999"
            raise ConfigError(f"positive prompts are empty: add at least one ({what}).")
        if self.resolution not in PRESETS:
            raise ConfigError(f"resolution must be one of {', '.join(map(str, PRESETS))} px; got {self.resolution}.")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning rate must be positive; got {self.learning_rate}.")
        if int(self.preview_every) != self.preview_every or self.preview_every < 1:
            raise ConfigError(f"preview every must be a whole number of at least 1; got {self.preview_every}.")
        self.aesthetic.check("aesthetic weight")
        self.jitter.schedule.check("jitter", allow_auto=True)
        margin = PRESETS[self.resolution][1]
        largest = max(self.jitter.schedule.start, self.jitter.schedule.end)
        if self.jitter.schedule.kind != "auto" and largest > margin:
            raise ConfigError(f"jitter must stay within the {margin} px margin of the {self.resolution} px canvas; got up to {largest}.")
        self.color_shift.schedule.check("colour shift")
        self.noise.schedule.check("noise")
        if not self.output_dir.strip():
            raise ConfigError("output folder is empty: give a folder for the run's files (e.g. runs/app).")

    def scorer_config(self) -> dict[str, Any]:
        entry = registry.get(self.scorer)
        args = dict(entry.init_args)
        if entry.text:
            if self.model_path.strip():
                args["model"] = self.model_path.strip()
            if self.aesthetic_head.strip():
                args["aesthetic_head"] = self.aesthetic_head.strip()
        return {"class_path": entry.class_path, "init_args": args}

    def to_config(self) -> dict[str, Any]:
        """The run as a ``dasag fit`` config mapping (the demo's structure, the form's values)."""
        self.check()
        positive, negative = self.prompts()
        max_size, max_shift = PRESETS[self.resolution]
        augment: dict[str, Any] = {
            "batch_size": self.batch_size,
            "color_shift": self.color_shift.schedule.to_config(),
            "noise": self.noise.schedule.to_config(),
            "jitter_enabled": self.jitter.enabled,
            "color_shift_enabled": self.color_shift.enabled,
            "noise_enabled": self.noise.enabled,
        }
        if self.jitter.schedule.kind != "auto":
            augment["jitter"] = self.jitter.schedule.to_config()
        pyramid: dict[str, Any] = {"max_size": max_size, "max_shift": max_shift, "interpolation": self.interpolation}
        for on, recipe in ((self.robust_recipe, robust_recipe), (self.sharing_recipe, sharing_recipe)):  # in the demo's order
            if on:
                pyramid.update(recipe()["pyramid"])
                augment.update(recipe()["augment"])
        return {
            "seed_everything": self.seed,
            "trainer": {
                "accelerator": "auto",
                "devices": 1,
                "max_steps": self.steps,
                "deterministic": bool(self.deterministic),
                "default_root_dir": self.output_dir.strip(),
                "callbacks": [{"class_path": "dasag.ImageExport"}],
            },
            "model": {
                "pyramid": {"class_path": "dasag.ImagePyramid", "init_args": pyramid},
                "scorer": self.scorer_config(),
                "augment": {"class_path": "dasag.Augmentations", "init_args": augment},
                "objective": {
                    "class_path": "dasag.Objective",
                    "init_args": {
                        "prompt_weight": float(self.prompt_weight),
                        "arctanh": bool(self.arctanh),
                        "aesthetic_weight": self.aesthetic.to_config(),
                        "reverse_aesthetic": bool(self.reverse_aesthetic),
                        "tv_weight": float(self.tv_weight),
                        "l1_weight": float(self.l1_weight),
                    },
                },
                "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": float(self.learning_rate), "betas": list(ADAM_BETAS)}},
            },
            "data": {"positive_prompts": positive, "negative_prompts": negative},
        }
