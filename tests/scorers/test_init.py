"""The scorers package's public names: each one importable from dasag.scorers and the very class its own module defines."""

from __future__ import annotations

import inspect
from importlib import import_module

import pytest

import dasag
import dasag.scorers as scorers


def test_all_lists_each_name_once():
    assert len(scorers.__all__) == len(set(scorers.__all__)) > 0
    assert {"Scorer", "Scores", "ScorerEnsemble", "EfficientNetLite", "SigLIP", "CLIP"} <= set(scorers.__all__)


@pytest.mark.parametrize("name", scorers.__all__)
def test_each_public_name_is_the_class_its_module_defines(name):
    value = getattr(scorers, name)
    assert inspect.isclass(value) and value.__name__ == name
    assert value.__module__.startswith("dasag.scorers.")  # defined in a module of the package, not re-made here
    assert getattr(import_module(value.__module__), name) is value


def test_a_star_import_gives_exactly_the_public_names():
    namespace: dict = {}
    exec("from dasag.scorers import *", namespace)  # what a user's star import sees
    assert {k for k in namespace if k != "__builtins__"} == set(scorers.__all__)
    assert all(namespace[name] is getattr(scorers, name) for name in scorers.__all__)


def test_the_scorers_the_top_level_package_names_are_the_same_classes():
    for name in ("Scorer", "Scores", "ScorerEnsemble"):
        assert getattr(dasag, name) is getattr(scorers, name)


def test_every_scorer_class_is_a_scorer():
    from dasag.scorers.base import Scorer

    for name in ("EfficientNetLite", "SigLIP", "CLIP"):
        assert issubclass(getattr(scorers, name), Scorer)
