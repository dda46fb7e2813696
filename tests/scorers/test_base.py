"""The scorer interface: cheap checks before loading, prepare before scoring, frozen after loading."""

from __future__ import annotations

import pytest
import torch

from dasag.scorers import EfficientNetLite


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


def test_prompt_values_reduce_to_the_mean_or_the_weighted_mean():
    """Equal weights are the plain mean, computed as before (same bytes); differing weights are a
    weighted mean; no prompts give zero (an empty negative list)."""
    scorer = EfficientNetLite("lite0", input_size=64)
    values = torch.randn(3, 2)
    assert torch.equal(scorer.reduce_prompts(values, "positive"), values.mean(dim=1))
    assert torch.equal(scorer.reduce_prompts(torch.zeros(3, 0), "negative"), torch.zeros(3))
    scorer.prepare(["goldfish", "volcano"], [], positive_weights=[3.0, 1.0])
    torch.testing.assert_close(scorer.reduce_prompts(values, "positive"), 0.75 * values[:, 0] + 0.25 * values[:, 1])
    scorer.prepare(["goldfish", "volcano"], [], positive_weights=[2.0, 2.0])  # all equal: the plain mean again
    assert torch.equal(scorer.reduce_prompts(values, "positive"), values.mean(dim=1))
    with pytest.raises(ValueError, match="1 positive weights for 2 positive prompts"):
        scorer.prepare(["goldfish", "volcano"], [], positive_weights=[2.0])


def test_input_size_interpolation_and_antialias_override_the_weights_record():
    """DAS-AG v2 resized to 386 with bilinear and no antialias; any scorer can be told to."""
    import torch.nn.functional as F

    scorer = EfficientNetLite("lite0", input_size=100, interpolation="bicubic", antialias=False)
    record = scorer.preprocessing
    assert (record.size, record.mode, record.antialias) == (100, "bicubic", False)
    assert (record.mean, record.pixel_scale) == ((127.0,) * 3, 127.5)  # the weights' scaling is kept
    x = torch.rand(2, 3, 160, 160) * 2 - 1
    torch.testing.assert_close(scorer.resize_input(x), F.interpolate(x, size=(100, 100), mode="bicubic", align_corners=False, antialias=False))
    filtered = EfficientNetLite("lite0", input_size=100, interpolation="bicubic").resize_input(x)
    torch.testing.assert_close(filtered, F.interpolate(x, size=(100, 100), mode="bicubic", align_corners=False, antialias=True))
    assert EfficientNetLite("lite0").preprocessing.size == 224 and EfficientNetLite("lite0").preprocessing.antialias


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"input_size": 4.5}, "scorer input_size must be an integer"), ({"interpolation": "area"}, "scorer interpolation must be one of bilinear"),
     ({"antialias": "no"}, "scorer antialias must be true or false")],
)
def test_bad_input_settings_are_one_sentence(kwargs, words):
    from dasag.scorers.base import check_input_settings

    args = {"input_size": None, "interpolation": None, "antialias": True, **kwargs}
    with pytest.raises(ValueError, match=words):
        check_input_settings(**args)
