"""What a benchmark suite is: its methods (one config file each), its tasks and its columns.

A *task* is one image: a method, a sample index and the seed derived from it. Seeds are
``base_seed + index`` so every sample differs (the published benchmark reused seed 0 for
all five), and the same index gets the same seed under every method, which makes the
methods' comparison paired. Narrowing a suite (fewer samples, classes or methods) keeps
each remaining task's seed, so a narrowed ``--check`` regenerates the same images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from dasag.config import CONFIGS

#: Published reference tables (package data, like the configs, so an installed wheel runs its own suites).
REFERENCE = Path(str(resources.files("dasag.quality") / "reference"))

#: ImageNet classes of the transfer benchmark, fixed once: distinct, unambiguous names.
#: ``--classes N`` takes the first N, so keep the order.
TRANSFER_CLASSES: tuple[str, ...] = (
    "goldfish", "great white shark", "hen", "ostrich", "flamingo", "king penguin",
    "tree frog", "African elephant", "zebra", "tiger", "macaw", "jellyfish",
    "ladybug", "monarch", "starfish", "pineapple", "strawberry", "lemon",
    "broccoli", "mushroom", "volcano", "daisy", "school bus", "teapot",
)
#: Transfer sample index = class position * stride + seed index, so seeds stay put when narrowed.
SEED_STRIDE = 100


@dataclass(frozen=True)
class Method:
    """One method of a suite: a short name, its label in tables and its config file."""

    name: str
    label: str
    config: Path
    #: Optimise pixels at one resolution: the pyramid's ``min_size`` is set to its ``max_size``
    #: after every override, so the baseline always matches the pyramid's canvas and budget.
    single_resolution: bool = False
    #: This method's share of the run's step budget (rounded, at least 1 step). Below 1 for a
    #: method that costs more per step, so that it runs at the same wall time per image as the
    #: baseline; the share is a measured cost ratio, given with its measurement in the config.
    step_share: float = 1.0


@dataclass(frozen=True)
class Task:
    """One image to make: ``(method, sample)`` is its key in ``scores.csv``."""

    method: str
    sample: int
    seed: int
    #: The positive prompt set for this task; ``None`` keeps the method config's prompts.
    prompt: str | None = None
    #: Config overrides of this task alone (a batch row's prompts and dotted keys), merged last.
    overrides: dict[str, Any] | None = field(default=None, compare=False)
    #: Values written as they are into this task's ``scores.csv`` row (a batch row's name and prompts).
    columns: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.method, self.sample)


@dataclass(frozen=True)
class Suite:
    """A named benchmark: methods, default step budget and the columns it reports."""

    name: str
    methods: tuple[Method, ...]
    #: Columns of ``scores.csv`` that identify a row and the image, before any score.
    key_columns: tuple[str, ...]
    #: The guide's clean-image scores written for every row, by their score keys (``<member>/<field>``);
    #: held-out columns (``heldout/<name>/<field>``) are appended after these.
    score_columns: tuple[str, ...]
    #: Held-out scorers this suite always uses (``--eval-scorer`` adds more).
    heldout: tuple[str, ...] = ()
    #: Measures of the 8-bit picture itself (:mod:`dasag.quality.image_stats`), after the held-out columns.
    look_columns: tuple[str, ...] = ()
    #: Column the top-3 grid ranks by, and the scatter plot's (x, y) columns.
    rank_by: str = ""
    scatter: tuple[str, str] = ("", "")
    #: Published reference: stats file shipped in ``dasag/quality/reference/``.
    reference_stats: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def method(self, name: str) -> Method:
        for m in self.methods:
            if m.name == name:
                return m
        raise ValueError(f"unknown method {name!r} for suite {self.name!r}; allowed: {', '.join(m.name for m in self.methods)}.")

    def label(self, name: str) -> str:
        return self.method(name).label


DAS_AG_V2 = Suite(
    name="das_ag_v2",
    methods=(
        Method("das", "DAS", CONFIGS / "das.yaml"),
        Method("das_ag", "DAS-AG", CONFIGS / "das_ag.yaml"),
        Method("das_ag_plus", "DAS-AG+", CONFIGS / "das_ag_plus.yaml"),
        Method("das_rag", "DAS-rAG", CONFIGS / "das_rag.yaml"),
        Method("das_rag_plus", "DAS-rAG+", CONFIGS / "das_rag_plus.yaml"),
    ),
    key_columns=("method", "sample", "seed", "file_hash"),
    score_columns=("siglip/aesthetic", "siglip/positive", "siglip/negative"),  # the guide's own score keys
    rank_by="siglip/aesthetic",
    scatter=("siglip/positive", "siglip/aesthetic"),
    reference_stats=REFERENCE / "das_ag_v2_stats.csv",
    extra={"default_samples": 5},
)

TRANSFER = Suite(
    name="transfer",
    methods=(
        Method("pyramid", "DAS pyramid", CONFIGS / "transfer.yaml"),
        Method("pixel", "pixel baseline", CONFIGS / "transfer.yaml", single_resolution=True),
        Method("robust", "robust recipe", CONFIGS / "transfer_robust.yaml"),
        Method("robust_ensemble", "robust recipe, Lite0+Lite1", CONFIGS / "transfer_robust_ensemble.yaml"),
        # The same at the pyramid's wall time per image: per step the recipe costs 1.05x the
        # pyramid and the two-model guide 2.5x, timed side by side (reproduce/quality_cost.py).
        Method("robust_same_time", "robust recipe, pyramid's time", CONFIGS / "transfer_robust.yaml", step_share=0.95),
        Method("robust_ensemble_same_time", "robust recipe, Lite0+Lite1, pyramid's time", CONFIGS / "transfer_robust_ensemble.yaml",
               step_share=0.4),
    ),
    key_columns=("method", "sample", "seed", "class_name", "class_index", "file_hash"),
    score_columns=(),
    heldout=("lite0", "lite1", "lite2"),  # lite0 is the guide: its columns show what the guide believes
    look_columns=("look/contrast", "look/colourfulness"),
    rank_by="heldout/lite2/prob",
    scatter=("heldout/lite0/prob", "heldout/lite2/prob"),
    extra={"default_classes": 20, "default_seeds": 3, "guide": "lite0"},
)

SUITES: dict[str, Suite] = {s.name: s for s in (DAS_AG_V2, TRANSFER)}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; allowed: {', '.join(SUITES)}.")
    return SUITES[name]


def das_ag_v2_tasks(methods: list[str], samples: int, base_seed: int) -> list[Task]:
    """``samples`` images per method; sample i has seed ``base_seed + i`` under every method."""
    return [Task(m, i, base_seed + i) for m in methods for i in range(samples)]


def transfer_tasks(methods: list[str], classes: int, seeds: int, base_seed: int) -> list[Task]:
    """The first ``classes`` classes x ``seeds`` seeds per method (class-major, paired seeds)."""
    out = []
    for m in methods:
        for c, name in enumerate(TRANSFER_CLASSES[:classes]):
            for s in range(seeds):
                index = c * SEED_STRIDE + s
                out.append(Task(m, index, base_seed + index, prompt=name))
    return out
