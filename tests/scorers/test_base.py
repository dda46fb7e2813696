"""The scorer interface: cheap checks before loading, prepare before scoring, frozen after loading."""

from __future__ import annotations

import pytest
import torch

from dasag.scorers import EfficientNetLite
from dasag.scorers.base import mean_similarity


def test_prompts_are_checked_without_loading_and_scoring_needs_prepare():
    scorer = EfficientNetLite("lite0", input_size=64)
    with pytest.raises(ValueError, match="needs at least one positive prompt"):
        scorer.validate_prompts([], [])
    scorer.validate_prompts([], [], require_positive=False)
    assert not scorer.loaded
    with pytest.raises(RuntimeError, match="call prepare"):
        scorer(torch.zeros(1, 3, 64, 64))


def test_a_loaded_scorer_is_frozen_and_ignores_train_mode():
    scorer = EfficientNetLite("lite0", input_size=64).load()
    assert scorer.loaded and not scorer.training and not any(p.requires_grad for p in scorer.parameters())
    assert not scorer.train(True).training


def test_mean_similarity_is_zero_without_targets():
    emb = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    assert torch.equal(mean_similarity(emb, torch.zeros(0, 4)), torch.zeros(3))
    torch.testing.assert_close(mean_similarity(emb, emb[:1]), emb @ emb[0])
