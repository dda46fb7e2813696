"""Suites: their methods' configs ship with the package, and narrowing never moves a seed."""

from __future__ import annotations

import pytest

from dasag.quality.suites import SUITES, TRANSFER_CLASSES, das_ag_v2_tasks, get_suite, transfer_tasks


def test_every_method_config_and_reference_ships():
    for suite in SUITES.values():
        assert all(m.config.is_file() for m in suite.methods)
    assert get_suite("das_ag_v2").reference_stats.is_file()
    with pytest.raises(ValueError, match="unknown suite 'nope'; allowed: das_ag_v2, transfer"):
        get_suite("nope")


def test_narrowing_keeps_each_remaining_tasks_seed():
    full = {t.key: t for t in transfer_tasks(["pyramid", "pixel"], classes=4, seeds=3, base_seed=7)}
    narrow = transfer_tasks(["pixel"], classes=2, seeds=1, base_seed=7)
    assert [t.prompt for t in narrow] == list(TRANSFER_CLASSES[:2])
    assert all(full[t.key] == t for t in narrow)
    assert [t.seed for t in das_ag_v2_tasks(["das"], 3, base_seed=5)] == [5, 6, 7]  # every sample its own seed


def test_a_methods_step_share_scales_the_runs_step_budget_whichever_sets_it():
    from dasag.quality.make import task_config
    from dasag.quality.suites import Task

    task = Task("m", 0, 3, prompt="goldfish")
    base = {"trainer": {"max_steps": 60}}
    assert task_config(base, task, None)["trainer"]["max_steps"] == 60
    assert task_config(base, task, None, step_share=0.55)["trainer"]["max_steps"] == 33  # the config's budget
    assert task_config(base, task, 10, step_share=0.55)["trainer"]["max_steps"] == 6  # --steps, then the share
    assert task_config(base, task, 1, step_share=0.4)["trainer"]["max_steps"] == 1  # never 0 steps
    assert task_config({"trainer": {}}, task, None, step_share=0.5)["trainer"] == {}  # a missing budget is left for steps_of to name


@pytest.mark.slow
def test_the_quality_cost_bench_times_every_row_against_the_pyramid(capsys):
    """reproduce/quality_cost.py: one round of one timed step per config prints a row each, the
    pyramid at 1.00x and every cost positive (a figure, never an assertion on speed)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "reproduce" / "quality_cost.py"
    spec = importlib.util.spec_from_file_location("quality_cost", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--steps", "1", "--rounds", "1", "--threads", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and not line.startswith("| config")]
    assert len(rows) == len(bench.ROWS) and rows[0].endswith("| 1.00x |")
    costs = [float(r.rsplit("|", 2)[1].strip().rstrip("x")) for r in rows]
    assert all(c > 0 for c in costs)
    best = next(r for r in rows if "best" in r)
    assert "| 16 | 200 |" in best  # the preset's own copies and steps
    with pytest.raises(SystemExit):
        bench.main(["--steps", "0"])
