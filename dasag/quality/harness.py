"""The quality harness: the task engine (:mod:`dasag.batch.engine`) on a suite named by a run's options.

``run(RunSpec(...))`` makes every missing image of a suite and writes its tables, plots and
report; ``check(RunSpec(...))`` regenerates images and compares them byte for byte. The suite is
a quality benchmark (:mod:`dasag.quality.suites`) or, for ``suite="batch"``, a batch of rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dasag.batch import engine
from dasag.batch.engine import TaskPlan
from dasag.batch.tasks import RunSpec, Suite
from dasag.quality.edits import read_edits
from dasag.quality.suites import suite_of


def check_report_records(spec: RunSpec, suite: Suite) -> None:
    """The report's own records already in ``spec.out`` (``edits.csv``) are whole, checked before the
    run takes the folder: the report reads them only after every image is made, when a damaged one
    would end the run with run.json, scores.csv, stats.csv and the figures already rewritten."""
    if suite.extra.get("edit_judge") is not None:
        read_edits(Path(spec.out) / "edits.csv")


def plan(spec: RunSpec, for_check: bool = False) -> TaskPlan:
    """Validate every option and config against each other and ``spec.out``; loads no model, writes nothing."""
    suite = suite_of(spec)
    if not for_check:
        check_report_records(spec, suite)
    return engine.plan(spec, suite, for_check)


def run(spec: RunSpec, on_row: Callable[[dict], None] | None = None) -> pd.DataFrame | None:
    """Make every missing image of ``spec`` and write the report (see :func:`dasag.batch.engine.run`)."""
    suite = suite_of(spec)
    check_report_records(spec, suite)
    return engine.run(spec, suite, on_row)


def check(spec: RunSpec, log: Callable[[str], None] = print) -> list[str]:
    """Regenerate the spec's images and compare them with ``spec.out``; one message per mismatch."""
    return engine.check(spec, suite_of(spec), log)
