"""Metrics per ensemble member, keyed like every score, with no host sync on update."""

from __future__ import annotations

import pytest
import torch

from dasag.run.metrics import ScoreMetrics, summarize
from dasag.run.speed_switches import HostSyncCounter
from dasag.scorers import EfficientNetLite, ScorerEnsemble
from dasag.speed.random_siglip import RandomSigLIP


def ensemble() -> ScorerEnsemble:
    return ScorerEnsemble([RandomSigLIP(size="tiny"), EfficientNetLite("lite0")])


def test_one_similarity_per_member_and_an_aesthetic_where_there_is_a_head():
    metrics = ScoreMetrics(ensemble(), prefix="train/metric/")
    with HostSyncCounter() as syncs:
        metrics.update({"siglip_random/positive": torch.tensor([0.5]), "siglip_random/negative": torch.tensor([0.25]),
                        "siglip_random/aesthetic": torch.tensor([6.0]), "lite0/positive": torch.tensor([-2.0])})
    assert syncs.calls == []
    out = metrics.compute_and_reset()
    assert set(out) == {"train/metric/siglip_random/similarity", "train/metric/siglip_random/aesthetic", "train/metric/lite0/similarity"}
    assert out["train/metric/siglip_random/similarity"].item() == pytest.approx(0.25)
    assert out["train/metric/lite0/similarity"].item() == pytest.approx(-2.0)
    assert metrics.compute_and_reset() == {}  # reset: nothing updated since


def test_summary_of_clean_scores_for_png_metadata():
    scores = [{"lite0/positive": -1.0, "lite0/negative": -3.0}, {"lite0/positive": -2.0, "lite0/negative": -3.0}]
    assert summarize(ScorerEnsemble([EfficientNetLite("lite0")]), scores) == {"lite0/similarity": pytest.approx(1.5)}
