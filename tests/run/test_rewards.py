"""Rewards without gradients: JPEG size and any scorer's field, computed with no autograd."""

from __future__ import annotations

import pytest
import torch

from dasag.run.data import PromptSet
from dasag.run.rewards import JpegCompressibility, ScorerReward, jpeg_kilobytes
from dasag.scorers import EfficientNetLite
from dasag.speed.random_siglip import RandomSigLIP


def test_a_flat_image_is_more_compressible_than_noise():
    flat, noise = torch.zeros(3, 32, 32), torch.rand(3, 32, 32) * 2 - 1
    rewards = JpegCompressibility()(torch.stack([flat, noise]))
    assert rewards[0] > rewards[1] and rewards[0] == pytest.approx(-jpeg_kilobytes(flat))


def test_scorer_reward_is_the_held_out_probability():
    reward = ScorerReward(EfficientNetLite("lite2", input_size=64), field="probability")
    reward.setup(PromptSet(("goldfish",), ()), torch.device("cpu"))
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    values = reward(images)
    assert values.dtype == torch.float64 and ((values > 0) & (values < 1)).all() and reward.name == "lite2_probability"


def test_fields_the_scorer_cannot_give_are_refused_before_it_loads():
    with pytest.raises(ValueError, match="needs a classifier scorer"):
        ScorerReward(RandomSigLIP(size="tiny"), field="probability")
    with pytest.raises(ValueError, match="has none"):
        ScorerReward(EfficientNetLite("lite0"), field="aesthetic")
    with pytest.raises(ValueError, match="unknown ImageNet class"):
        ScorerReward(EfficientNetLite("lite0"), prompts=["goldfsh"])


def test_an_aesthetic_reward_needs_no_prompt():
    reward = ScorerReward(RandomSigLIP(size="tiny", attn_implementation="eager", dtype="fp32"), field="aesthetic")
    reward.setup(PromptSet((), ()), torch.device("cpu"))
    assert reward(torch.rand(2, 3, 32, 32) * 2 - 1).shape == (2,)
