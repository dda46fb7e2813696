"""The deterministic reproduction harness behind ``reproduce/run.py``.

``run(RunSpec(...))`` makes every missing image of a suite and writes its tables, plots and
report; ``check(RunSpec(...))`` regenerates images and compares them byte for byte.
"""

from dasag.quality.harness import Plan, RunSpec, check, plan, run
from dasag.quality.suites import SUITES, TRANSFER_CLASSES, Suite, Task

__all__ = ["Plan", "RunSpec", "SUITES", "Suite", "TRANSFER_CLASSES", "Task", "check", "plan", "run"]
