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
