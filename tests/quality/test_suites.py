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


