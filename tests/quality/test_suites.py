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
