"""Held-out scoring: columns follow what a scorer declares, not what it happens to have."""

from __future__ import annotations

import pytest
import torch

from dasag.scorers import heldout
from dasag.speed.random_siglip import RandomSigLIP


def test_columns_follow_declared_capabilities():
    assert heldout.columns("lite2", heldout.judge("lite2")) == ["heldout/lite2/top1", "heldout/lite2/prob"]
    assert heldout.columns("r", RandomSigLIP(size="tiny")) == ["heldout/r/positive", "heldout/r/negative", "heldout/r/aesthetic"]
    assert heldout.columns("r", RandomSigLIP(size="tiny", aesthetic=False)) == ["heldout/r/positive", "heldout/r/negative"]
    with pytest.raises(ValueError, match="unknown --eval-scorer 'dino'"):
        heldout.check_names(["dino"])


def test_a_classifier_reports_top1_and_the_target_probability():
    scorer = heldout.judge("lite0").load()
    row = heldout.score("lite0", scorer, torch.rand(1, 3, 64, 64) * 2 - 1, ["goldfish"], [])
    assert set(row) == {"heldout/lite0/top1", "heldout/lite0/prob"}
    assert row["heldout/lite0/top1"] in (0, 1) and 0 < row["heldout/lite0/prob"] < 1


def test_the_classifier_judges_of_a_table_are_read_back_whole_from_its_columns():
    """A judge's name may hold slashes (timm:NAME@/path/FILE): its columns give it back whole, in order."""
    name = "timm:resnet50.a1_in1k@/weights/v2/model.safetensors"
    columns = ["method", heldout.key("lite2", "top1"), heldout.key("lite2", "prob"), heldout.key(name, "top1"), heldout.key(name, "prob"),
               heldout.key("siglip", "positive"), "look/contrast"]
    assert heldout.classifier_judges(columns) == ["lite2", name]


def test_judges_are_named_once_and_none_guides_a_method():
    with pytest.raises(ValueError, match=r"^--eval-scorer names 'lite1' twice; name each held-out judge once\.$"):
        heldout.check_names(["lite1", "lite2", "lite1"])
    ensemble = {"class_path": "dasag.scorers.ScorerEnsemble", "init_args": {"scorers": [
        {"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"variant": "lite0", "score": "logit"}}, "lite1"]}}
    with pytest.raises(ValueError, match=r"--eval-scorer 'lite1' guides method 'best', so it is not held out there"):
        heldout.check_not_guide(["lite2", "lite1"], "best", ensemble)
    with pytest.raises(ValueError, match=r"--eval-scorer 'lite0' guides method 'demo'"):
        heldout.check_not_guide(["lite0"], "demo", {"class_path": "dasag.scorers.efficientnet.EfficientNetLite", "init_args": {"variant": "lite0"}})
    heldout.check_not_guide(["lite2", "siglip"], "best", ensemble)  # neither guides it: no complaint
