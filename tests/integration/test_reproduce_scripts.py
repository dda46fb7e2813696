"""The scripts under reproduce/ run on the command skeleton: their tables come out, their bad options are one sentence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "reproduce" / name), *args], capture_output=True, text=True, cwd=ROOT, timeout=900)


@pytest.mark.slow
def test_the_quality_cost_bench_times_every_row_against_the_pyramid():
    """One round of one timed step per config prints a row each, the pyramid at 1.00x and every
    cost positive (a figure, never an assertion on speed)."""
    done = script("quality_cost.py", "--steps", "1", "--rounds", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| config")]
    assert rows[0].startswith("| pyramid") and rows[0].endswith("| 1.00x |") and len(rows) >= 5
    assert all(float(r.rsplit("|", 2)[1].strip().rstrip("x")) > 0 for r in rows)
    long = next(r for r in rows if "quality/long.yaml" in r)
    assert "| 16 | 200 |" in long  # the preset's own copies and steps
    assert "| 4 | 60 |" in next(r for r in rows if "quality/best.yaml" in r)  # best keeps the method's budget, with two guides


@pytest.mark.parametrize(("name", "args", "words"), [
    ("quality_cost.py", ["--steps", "0"], "--steps, --rounds and --threads must be positive integers"),
    ("large_cost.py", ["--rounds", "0"], "--steps, --rounds and --threads must be positive integers"),
    ("pin_cost.py", ["--nope"], "unrecognized arguments: --nope"),
    ("run.py", ["nonsense", "--out", "x"], "invalid choice: 'nonsense'"),
])
def test_a_bad_option_is_one_sentence(name, args, words):
    done = script(name, *args)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and words in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
