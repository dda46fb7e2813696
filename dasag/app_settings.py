"""What the app's form holds, checked, and turned into a ``cli.py fit`` config mapping.

Kept apart from the Streamlit page so the mapping from controls to config keys is plain
Python, tested without a browser, and the page only draws widgets. The config produced
here has the structure of ``configs/demo.yaml`` and is built by :func:`dasag.build.build_run`,
the CLI's own code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dasag.cli import ConfigError, check_output_dir

#: Visible output size -> (pyramid canvas, jitter margin). 384/768 are the DAS-AG v2 presets;
#: the smaller ones keep CPU runs short (192 is the offline demo's canvas).
RESOLUTIONS: dict[int, tuple[int, int]] = {96: (128, 16), 192: (256, 32), 384: (512, 64), 768: (1024, 128)}

#: Scorer choice -> (class path, fixed init args, uses text prompts).
SCORERS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "lite0": ("dasag.scorers.EfficientNetLite", {"variant": "lite0"}, False),
    "lite1": ("dasag.scorers.EfficientNetLite", {"variant": "lite1"}, False),
    "lite2": ("dasag.scorers.EfficientNetLite", {"variant": "lite2"}, False),
    "siglip": ("dasag.scorers.SigLIP", {}, True),
    "clip": ("dasag.scorers.CLIP", {}, True),
}

SCHEDULES = ("constant", "linear", "exponential_decay", "exponential_warmup")
_SCHEDULE_CLASSES = {"linear": "dasag.Linear", "exponential_decay": "dasag.ExponentialDecay", "exponential_warmup": "dasag.ExponentialWarmup"}
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass
class ScheduleSetting:
    """One scheduled value: ``kind`` from start to end at ``rate`` (constant uses ``start``).

    ``kind == "auto"`` (jitter only) leaves the library default: the margin annealed to 0.
    """

    kind: str = "constant"
    start: float = 0.0
    end: float = 0.0
    rate: float = 0.03

    def check(self, name: str, allow_auto: bool = False) -> None:
        kinds = SCHEDULES + (("auto",) if allow_auto else ())
        if self.kind not in kinds:
            raise ConfigError(f"{name} schedule must be one of {', '.join(kinds)}; got {self.kind!r}.")
        if self.kind.startswith("exponential") and not 0.0 <= self.rate < 1.0:
            raise ConfigError(f"{name} rate must be in [0, 1); got {self.rate}.")
        if self.kind != "auto" and (self.start < 0 or (self.kind != "constant" and self.end < 0)):
            raise ConfigError(f"{name} values must be non-negative; got start {self.start}, end {self.end}.")

    def to_config(self) -> Any:
        """A number for a constant, else a ``class_path``/``init_args`` mapping."""
        if self.kind == "constant":
            return float(self.start)
        args: dict[str, float] = {"start": float(self.start), "end": float(self.end)}
        if self.kind != "linear":
            args["rate"] = float(self.rate)
        return {"class_path": _SCHEDULE_CLASSES[self.kind], "init_args": args}


@dataclass
class Augmentation:
    """An augmentation's on/off switch and its schedule."""

    enabled: bool = True
    schedule: ScheduleSetting = field(default_factory=ScheduleSetting)


def _jitter_default() -> Augmentation:
    return Augmentation(True, ScheduleSetting("auto", 0.0, 0.0, 0.03))


def _color_default() -> Augmentation:
    return Augmentation(True, ScheduleSetting("exponential_warmup", 0.05, 0.3, 0.03))


def _noise_default() -> Augmentation:
    return Augmentation(True, ScheduleSetting("exponential_warmup", 0.2, 0.5, 0.03))


@dataclass
class AppSettings:
    """Every control of the page; defaults are the offline demo (EfficientNet-Lite0, goldfish)."""

    positive_prompts: list[str] = field(default_factory=lambda: ["goldfish"])
    negative_prompts: list[str] = field(default_factory=list)
    scorer: str = "lite0"
    #: Optional hub id / local directory and aesthetic head for SigLIP and CLIP ("" = configured default).
    model_path: str = ""
    aesthetic_head: str = ""
    resolution: int = 192
    steps: int = 60
    batch_size: int = 8
    learning_rate: float = 0.1
    prompt_weight: float = 1.0
    arctanh: bool = False
    reverse_aesthetic: bool = False
    aesthetic: ScheduleSetting = field(default_factory=lambda: ScheduleSetting("constant", 0.0, 0.0, 0.02))
    deterministic: bool = True
    seed: int = 0
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"
    tv_weight: float = 1e-8
    l1_weight: float = 0.0
    jitter: Augmentation = field(default_factory=_jitter_default)
    color_shift: Augmentation = field(default_factory=_color_default)
    noise: Augmentation = field(default_factory=_noise_default)
    output_dir: str = "runs/app"
    preview_every: int = 5

    @property
    def text_scorer(self) -> bool:
        return SCORERS[self.scorer][2] if self.scorer in SCORERS else False

    def prompts(self) -> tuple[list[str], list[str]]:
        """Prompt lists without the blank rows an "Add" click leaves behind."""
        clean = lambda xs: [str(p).strip() for p in xs if str(p).strip()]  # noqa: E731
        return clean(self.positive_prompts), clean(self.negative_prompts)

    def check(self) -> None:
        """Every check that needs no model; raises :class:`ConfigError` with one sentence."""
        if self.scorer not in SCORERS:
            raise ConfigError(f"scorer must be one of {', '.join(SCORERS)}; got {self.scorer!r}.")
        positive, _ = self.prompts()
        if not positive:
            what = "a text prompt" if self.text_scorer else "an ImageNet class name (e.g. goldfish) or index 0..999"
            raise ConfigError(f"positive prompts are empty: add at least one ({what}).")
        if self.resolution not in RESOLUTIONS:
            raise ConfigError(f"resolution must be one of {', '.join(map(str, RESOLUTIONS))} px; got {self.resolution}.")
        for name, value, low in (("steps", self.steps, 1), ("batch size", self.batch_size, 1), ("preview every", self.preview_every, 1)):
            if int(value) != value or value < low:
                raise ConfigError(f"{name} must be a whole number of at least {low}; got {value}.")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning rate must be positive; got {self.learning_rate}.")
        for name, value in (("text-guidance weight", self.prompt_weight), ("TV weight", self.tv_weight), ("L1 weight", self.l1_weight)):
            if value < 0:
                raise ConfigError(f"{name} must be non-negative; got {value}.")
        if int(self.seed) != self.seed or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be a whole number in 0..{2**32 - 1}; got {self.seed}.")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}; got {self.interpolation!r}.")
        self.aesthetic.check("aesthetic weight")
        self.jitter.schedule.check("jitter", allow_auto=True)
        margin = RESOLUTIONS[self.resolution][1]
        if self.jitter.schedule.kind != "auto" and max(self.jitter.schedule.start, self.jitter.schedule.end) > margin:
            raise ConfigError(f"jitter must stay within the {margin} px margin of the {self.resolution} px canvas; got up to {max(self.jitter.schedule.start, self.jitter.schedule.end)}.")
        self.color_shift.schedule.check("colour shift")
        self.noise.schedule.check("noise")
        if not self.output_dir.strip():
            raise ConfigError("output folder is empty: give a folder for the run's files (e.g. runs/app).")
        check_output_dir(self.output_dir)

    def scorer_config(self) -> dict[str, Any]:
        class_path, fixed, text = SCORERS[self.scorer]
        args = dict(fixed)
        if text:
            if self.model_path.strip():
                args["model"] = self.model_path.strip()
            if self.aesthetic_head.strip():
                args["aesthetic_head"] = self.aesthetic_head.strip()
        return {"class_path": class_path, "init_args": args}

    def to_config(self) -> dict[str, Any]:
        """The run as a ``cli.py fit`` config mapping (structure of ``configs/demo.yaml``)."""
        self.check()
        positive, negative = self.prompts()
        max_size, max_shift = RESOLUTIONS[self.resolution]
        augment: dict[str, Any] = {
            "batch_size": int(self.batch_size),
            "color_shift": self.color_shift.schedule.to_config(),
            "noise": self.noise.schedule.to_config(),
            "jitter_enabled": self.jitter.enabled,
            "color_shift_enabled": self.color_shift.enabled,
            "noise_enabled": self.noise.enabled,
        }
        if self.jitter.schedule.kind != "auto":
            augment["jitter"] = self.jitter.schedule.to_config()
        return {
            "seed_everything": int(self.seed),
            "trainer": {
                "accelerator": "auto",
                "devices": 1,
                "max_steps": int(self.steps),
                "deterministic": bool(self.deterministic),
                "default_root_dir": self.output_dir.strip(),
                "callbacks": [{"class_path": "dasag.ImageExport", "init_args": {"every_n_steps": 0}}],
            },
            "model": {
                "pyramid": {"class_path": "dasag.ImagePyramid", "init_args": {"max_size": max_size, "max_shift": max_shift, "interpolation": self.interpolation}},
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
                "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": float(self.learning_rate), "betas": [0.5, 0.99]}},
            },
            "data": {"positive_prompts": positive, "negative_prompts": negative},
        }
