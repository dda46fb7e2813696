"""The quality benchmarks: DAS-AG v2's published table and the transfer suite, as suites of the task engine.

Each suite names its methods (one config file each), its columns and how its tasks are listed
(:mod:`dasag.batch.tasks`). A *task* is one image: a method, a sample index and the seed derived from it. Seeds are
``base_seed + index`` so every sample differs (the published benchmark reused seed 0 for
all five), and the same index gets the same seed under every method, which makes the
methods' comparison paired. Narrowing a suite (fewer samples, classes or methods) keeps
each remaining task's seed, so a narrowed ``--check`` regenerates the same images.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from dasag.batch.tasks import Method, RunSpec, Suite, Task
from dasag.core.config import CONFIGS
from dasag.core.errors import ConfigError
from dasag.quality.report import write_all

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

def _das_ag_v2_tasks_of(suite: Suite, spec: RunSpec) -> list[Task]:
    """das_ag_v2's tasks for a run's options (``--samples``; ``--classes``/``--seeds`` are refused)."""
    if spec.classes or spec.seeds:
        raise ConfigError(f"--classes/--seeds narrow the transfer suite; for {suite.name} use --samples.")
    methods = spec.methods or [m.name for m in suite.methods]
    return das_ag_v2_tasks(methods, spec.samples or suite.extra["default_samples"], spec.base_seed)


def _transfer_tasks_of(suite: Suite, spec: RunSpec) -> list[Task]:
    """The transfer suite's tasks for a run's options (``--classes``, ``--seeds``; ``--samples`` is refused)."""
    if spec.samples:
        raise ConfigError("--samples narrows the das_ag_v2 suite (and a batch: its first N rows); for transfer use --classes and --seeds.")
    if spec.classes is not None and spec.classes > len(TRANSFER_CLASSES):
        raise ConfigError(f"--classes must be at most {len(TRANSFER_CLASSES)} (the fixed class list); got {spec.classes}.")
    methods = spec.methods or [m.name for m in suite.methods]
    return transfer_tasks(methods, spec.classes or suite.extra["default_classes"], spec.seeds or suite.extra["default_seeds"], spec.base_seed)


#: The files write_all writes in a run's folder (the transfer suite's also frontier.png and edits.csv).
REPORT_FILES = ("stats.csv", "scatter.png", "top3.png", "report.md")

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
    make_tasks=_das_ag_v2_tasks_of,
    write_report=write_all,
    report_files=REPORT_FILES,
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
        # The logit objective (docs/quality.md): the recipe, and the pixel baseline with the same
        # objective, so the table still shows whether the pyramid or the objective makes an image transfer.
        Method("robust_logit", "robust recipe, logit", CONFIGS / "transfer_robust_logit.yaml"),
        Method("pixel_logit", "pixel baseline, logit", CONFIGS / "transfer_logit.yaml", single_resolution=True),
        Method("robust_logit_dc", "robust recipe, logit, drop-connect", CONFIGS / "transfer_robust_logit_dc.yaml"),
        # quality/best.yaml as it was shipped until issue 35, and at the pyramid's wall time (it costs 2.3x per step, like the ensemble).
        Method("best", "robust, Lite0+Lite1, logit (best preset before issue 35)", CONFIGS / "transfer_robust_ensemble_logit.yaml"),
        Method("best_same_time", "robust, Lite0+Lite1, logit, pyramid's time", CONFIGS / "transfer_robust_ensemble_logit.yaml", step_share=0.4),
        # Issue 35: coarse levels first (the two finest at half and a quarter of the learning rate), then
        # also the everyday edits as augmentations (the demo's recipe), and quality/best.yaml as shipped now.
        Method("coarse", "robust, logit, drop-connect, coarse levels", CONFIGS / "transfer_coarse.yaml"),
        Method("coarse_shared", "robust, logit, drop-connect, coarse, shared (the demo's recipe)", CONFIGS / "transfer_coarse_shared.yaml"),
        Method("best_shared", "best preset (robust, Lite0+Lite1, logit, coarse, shared)", CONFIGS / "transfer_best.yaml"),
    ),
    key_columns=("method", "sample", "seed", "class_name", "class_index", "file_hash"),
    score_columns=(),
    heldout=("lite0", "lite1", "lite2"),  # lite0 is the guide: its columns show what the guide believes
    look_columns=("look/contrast", "look/colourfulness"),
    rank_by="heldout/lite2/prob",
    scatter=("heldout/lite0/prob", "heldout/lite2/prob"),
    # the judge of the everyday-edits table: held out for every method (none is guided by Lite2)
    extra={"default_classes": 20, "default_seeds": 3, "guide": "lite0", "edit_judge": "lite2"},
    make_tasks=_transfer_tasks_of,
    write_report=write_all,
    report_files=(*REPORT_FILES, "frontier.png", "edits.csv"),
)

SUITES: dict[str, Suite] = {s.name: s for s in (DAS_AG_V2, TRANSFER)}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; allowed: {', '.join(SUITES)}.")
    return SUITES[name]




def suite_of(spec: RunSpec) -> Suite:
    """The spec's suite: a quality benchmark by name, or a batch made from its rows file and config."""
    if spec.suite == "batch":
        from dasag.batch.rows_file import batch_suite

        if spec.config is None or spec.rows is None:
            raise ConfigError("a batch run needs a rows file and --config (the config every row starts from).")
        if not Path(spec.config).is_file():
            raise ConfigError(f"--config {str(spec.config)!r} does not exist.")
        return batch_suite(Path(spec.config))
    return get_suite(spec.suite)
