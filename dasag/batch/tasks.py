"""What the task engine runs: a suite of methods, its tasks (one image each) and a run's options.

A *task* is one image: a method, a sample index and the seed derived from it. A *suite* is the
methods, the columns its ``scores.csv`` has, how its tasks are listed from a run's options and
how its report is written; a quality benchmark (:mod:`dasag.quality.suites`) and a batch of rows
(:mod:`dasag.batch.rows_file`) are both suites, run by the same engine (:mod:`dasag.batch.engine`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


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
    #: Measures of the 8-bit picture itself (:mod:`dasag.image.stats`), after the held-out columns.
    look_columns: tuple[str, ...] = ()
    #: Column the top-3 grid ranks by, and the scatter plot's (x, y) columns.
    rank_by: str = ""
    scatter: tuple[str, str] = ("", "")
    #: Published reference: stats file shipped in ``dasag/quality/reference/``.
    reference_stats: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The suite's tasks for a run's options, narrowed by them (``--methods``, ``--samples``, ...);
    #: refuses an option that does not belong to the suite in one sentence. A module-level
    #: function, so a suite can be handed to a spawned worker.
    make_tasks: Callable[[Suite, RunSpec], list[Task]] | None = field(default=None, compare=False)
    #: Writes the report files of the rows in a finished run's table: ``(suite, table, out, spec,
    #: compared runs, guide names per method) -> {name: path}``.
    write_report: Callable[..., dict[str, Path]] | None = field(default=None, compare=False)
    #: The files ``write_report`` writes in the run's folder: a run refuses, before it takes the folder,
    #: anything in their way (a folder named ``report.md``) rather than failing after its images were made.
    report_files: tuple[str, ...] = ("report.md",)

    def method(self, name: str) -> Method:
        for m in self.methods:
            if m.name == name:
                return m
        raise ValueError(f"unknown method {name!r} for suite {self.name!r}; allowed: {', '.join(m.name for m in self.methods)}.")

    def label(self, name: str) -> str:
        return self.method(name).label


@dataclass
class RunSpec:
    """A run's options: what ``dasag quality`` and ``dasag batch`` pass on; the Python API takes the same fields."""

    suite: str
    out: Path
    methods: list[str] | None = None
    samples: int | None = None
    classes: int | None = None
    seeds: int | None = None
    steps: int | None = None
    #: ``None`` for steps, base_seed and overrides: continue the stored run's value, else the default.
    base_seed: int | None = None
    eval_scorers: list[str] = field(default_factory=list)
    overrides: dict[str, Any] | None = None
    devices: int = 1
    accelerator: str = "auto"
    #: CPU threads per worker. CPU convolution backward sums in a thread-dependent order, so
    #: the bytes of a CPU image depend on it: it is stored with the run and reused by
    #: re-runs and ``--check``. ``None``: the stored value, else 2 per worker (DETERMINISTIC_THREADS).
    threads: int | None = None
    #: Finished runs of the same suite (their folders) shown beside this one in report.md, e.g.
    #: the corrected mode beside the original (compat overlay); read only, never changed.
    compare: list[Path] = field(default_factory=list)
    #: Batch runs (suite ``batch``): the rows file and the config every row starts from.
    rows: Path | None = None
    config: Path | None = None
    #: Machines taking part (each running ``devices`` workers), launched by torchrun or SLURM's srun:
    #: every process runs the same command and they share the tasks and the output folder.
    num_nodes: int = 1
    #: Seconds a worker of a multi-node run may stay silent before the run ends with a sentence
    #: naming it (the workers' barriers, and rank 0's wait for the others' rows; dasag.batch.nodes).
    node_timeout: float = 180.0

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunSpec:
        """The inverse of :meth:`to_json` (what a spawned worker is handed)."""
        paths = {k: None if d.get(k) is None else Path(d[k]) for k in ("rows", "config")}
        return cls(**{**d, "out": Path(d["out"]), "compare": [Path(c) for c in d.get("compare", [])], **paths})

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        d["compare"] = [str(c) for c in self.compare]
        for key in ("rows", "config"):
            d[key] = None if d[key] is None else str(d[key])
        return d


def row_digest(config: dict[str, Any]) -> str:
    """A short fingerprint of a row's whole config: a rerun refuses a row changed after its image was made."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
