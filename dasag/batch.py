"""Batch runs from a prompt list: ``python -m dasag.batch rows.csv --config configs/demo.yaml --out runs/batch``.

One image per row of a CSV or YAML file (prompt with weights, negative, seed, name, steps and any
dotted config key), made by the quality harness with its guarantees (see
:mod:`dasag.quality.batch`): resume after a kill, ``--check`` byte for byte, several devices
(``--devices``) or machines (``--num-nodes`` under torchrun or srun) sharing one folder, and a
contact sheet and a CSV of scores at the end. From Python: :func:`run_batch` and :func:`check_batch`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dasag.quality.harness import RunSpec, check, run


def batch_spec(rows: str | Path, config: str | Path, out: str | Path, **options: Any) -> RunSpec:
    """The harness spec of a batch; ``options`` are :class:`RunSpec` fields (``steps``, ``devices``, ``threads``, ...)."""
    return RunSpec(suite="batch", out=Path(out), rows=Path(rows), config=Path(config), **options)


def run_batch(rows: str | Path, config: str | Path, out: str | Path, **options: Any) -> pd.DataFrame | None:
    """Make every missing row's image; returns the scores table (``None`` on workers other than rank 0)."""
    return run(batch_spec(rows, config, out, **options))


def check_batch(rows: str | Path, config: str | Path, out: str | Path, **options: Any) -> list[str]:
    """Regenerate the batch's images and compare them byte for byte; returns one message per mismatch."""
    return check(batch_spec(rows, config, out, **options))


def main(argv: Sequence[str] | None = None) -> int:
    """``ROWS --config CONFIG --out DIR [harness options]`` -> ``python -m dasag.quality batch --rows ROWS ...``."""
    from dasag.quality.cli import main as harness

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--rows", argv[0], *argv[1:]]
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip().splitlines()[0])
    return harness(["batch", *argv])


if __name__ == "__main__":
    sys.exit(main())
