"""The public API: every class a shipped config names resolves from ``dasag`` (or ``dasag.scorers``),
the extension points are exported, and names load on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dasag
from dasag.core.config import CONFIGS, load_config


def class_paths(value) -> list[str]:
    if isinstance(value, dict):
        return ([value["class_path"]] if "class_path" in value else []) + [p for v in value.values() for p in class_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in class_paths(v)]
    return []


@pytest.mark.parametrize("path", sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml") if "assets" not in p.parts))
def test_every_class_a_shipped_config_names_is_public(path):
    for class_path in class_paths(load_config(CONFIGS / path)):
        if class_path.startswith("dasag."):
            module, _, name = class_path.rpartition(".")
            assert module in ("dasag", "dasag.scorers", "dasag.speed.random_siglip"), f"{path} names {class_path}: name it from dasag itself"
            assert getattr(__import__(module, fromlist=[name]), name) is not None


def test_the_extension_points_and_the_one_call_are_exported():
    for name in ("Term", "StepContext", "Contribution", "Scorer", "Scores", "BuiltRun", "build_run", "generate", "Picture", "ScheduleAnnealing"):
        assert name in dasag.__all__ and getattr(dasag, name) is not None
    assert dasag.Term.__module__ == "dasag.objective.base" and dasag.build_run.__module__ == "dasag.run.build"
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        _ = dasag.NoSuchThing


def test_importing_dasag_loads_no_torch_until_a_name_is_asked_for():
    """So a command's edge sets the CPU kernel pins before the first tensor exists."""
    code = "import sys, dasag; assert 'torch' not in sys.modules; dasag.ImagePyramid; assert 'torch' in sys.modules; print(dasag.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == dasag.__version__
