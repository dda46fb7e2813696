"""The quality harness: the task engine (:mod:`dasag.batch.engine`) on a suite named by a run's options.

``run(RunSpec(...))`` makes every missing image of a suite and writes its tables, plots and
report; ``check(RunSpec(...))`` regenerates images and compares them byte for byte. The suite is
a quality benchmark (:mod:`dasag.quality.suites`) or, for ``suite="batch"``, a batch of rows.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from dasag.batch import engine
from dasag.batch.engine import TaskPlan
from dasag.batch.tasks import RunSpec
from dasag.quality.suites import suite_of


def plan(spec: RunSpec, for_check: bool = False) -> TaskPlan:
    """Validate every option and config against each other and ``spec.out``; loads no model, writes nothing."""
    return engine.plan(spec, suite_of(spec), for_check)


def run(spec: RunSpec, on_row: Callable[[dict], None] | None = None) -> pd.DataFrame | None:
    """Make every missing image of ``spec`` and write the report (see :func:`dasag.batch.engine.run`)."""
    return engine.run(spec, suite_of(spec), on_row)


def check(spec: RunSpec, log: Callable[[str], None] = print) -> list[str]:
    """Regenerate the spec's images and compare them with ``spec.out``; one message per mismatch."""
    return engine.check(spec, suite_of(spec), log)
