"""The objective's terms, each on hand-made scores: sign, weighting, arctanh, schedules, keys."""

import pytest
import torch

from dasag.objective import (
    AestheticTerm,
    Contribution,
    MemberScores,
    Objective,
    PromptTerm,
    StepContext,
    Term,
    safe_arctanh,
    total_variation,
)
from dasag.schedules import Constant
from dasag.scorers import EfficientNetLite, ScorerEnsemble
from dasag.scorers.base import Scores


def _scores(pos, neg, aes=None, bounded=True):
    return Scores(positive=torch.tensor(pos), negative=torch.tensor(neg), bounded=bounded, aesthetic=None if aes is None else torch.tensor(aes))


def ctx(*members: Scores, images=None, step: int = 0, total: int = 10, names=None, weights=None) -> StepContext:
    names = names or [f"m{i}" for i in range(len(members))]
    weights = weights or [1.0] * len(members)
    images = torch.zeros(1, 3, 4, 4) if images is None else images
    scorer = ScorerEnsemble([EfficientNetLite("lite0") for _ in members])  # built, never loaded: the terms here only read scores
    return StepContext([MemberScores(n, w, s) for n, w, s in zip(names, weights, members)], images, step, total, scorer)


def test_arctanh_is_finite_at_and_beyond_one():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 1.5], requires_grad=True)
    y = safe_arctanh(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()


def test_prompt_term_and_arctanh_apply_only_to_bounded_scores():
    plain = Objective(tv_weight=0)(ctx(_scores([0.5, 0.5], [0.1, 0.1])))
    assert torch.allclose(plain.loss, torch.tensor([-0.4]))
    at = Objective(arctanh=True, tv_weight=0)(ctx(_scores([1.0], [0.0])))
    assert torch.isfinite(at.loss).all() and at.loss.item() < -4
    unbounded = Objective(arctanh=True, tv_weight=0)(ctx(_scores([-3.0], [0.0], bounded=False)))
    assert unbounded.loss.item() == 3.0


def test_arctanh_stays_finite_at_perfect_similarity():
    positive = torch.tensor([1.0, 0.9999999, -1.0], requires_grad=True)
    negative = torch.tensor([-1.0, 1.0, 1.0], requires_grad=True)
    scores = Scores(positive=positive, negative=negative, bounded=True, aesthetic=torch.full((3,), 5.0))
    terms = Objective(arctanh=True, aesthetic_weight=1.0)(ctx(scores, images=torch.zeros(3, 3, 8, 8), total=1))
    terms.loss.sum().backward()
    assert torch.isfinite(terms.loss).all()
    assert torch.isfinite(positive.grad).all() and torch.isfinite(negative.grad).all()


def test_aesthetic_weight_schedule_and_reverse_switch():
    members = _scores([0.0], [0.0], aes=[5.0])
    forward = Objective(aesthetic_weight=Constant(2.0), tv_weight=0)(ctx(members, step=3))
    reverse = Objective(aesthetic_weight=Constant(2.0), reverse_aesthetic=True, tv_weight=0)(ctx(members, step=3))
    assert forward.loss.item() == -1.0 and reverse.loss.item() == 1.0
    assert forward.values["m0/aesthetic"].item() == 5.0
    assert AestheticTerm(Constant(2.0), reverse=True).weight_at(3, 10) == -2.0


def test_each_image_gets_its_own_loss():
    # two images, two copies each, image-major
    terms = Objective(tv_weight=0)(ctx(_scores([0.2, 0.4, 0.9, 0.7], [0.0] * 4), images=torch.zeros(2, 3, 4, 4), total=5))
    assert torch.allclose(terms.loss, torch.tensor([-0.3, -0.8]))


def test_members_are_weighted_and_keyed_by_their_names():
    step = ctx(_scores([0.5], [0.1]), _scores([-2.0], [-4.0], bounded=False), names=["siglip", "lite0"], weights=[1.0, 0.25])
    terms = Objective(tv_weight=0)(step)
    assert terms.loss.item() == pytest.approx(-(0.4 + 0.25 * 2.0))
    assert set(terms.values) == {"siglip/positive", "siglip/negative", "lite0/positive", "lite0/negative"}


def test_regularisers_and_extra_terms():
    images = torch.zeros(1, 3, 4, 4)
    images[..., 0, 0] = 1.0
    assert total_variation(images).item() == 2 * 3  # one pixel differs from two neighbours, 3 channels

    class Plus(Term):
        name = "plus"

        def __call__(self, c: StepContext) -> Contribution:
            value = torch.full((c.num_images,), float(c.step))
            return Contribution(value, {self.name: value})

    obj = Objective(prompt_weight=0, tv_weight=1.0, l1_weight=0.5, terms=[Plus()])
    terms = obj(ctx(_scores([0.0], [0.0]), images=images, step=4))
    assert terms.loss.item() == 6 + 0.5 * 3 + 4
    assert set(terms.values) >= {"tv", "l1", "plus"}
    assert not obj.needs_prompts and Objective().needs_prompts


def test_bad_weights_are_one_sentence():
    import pytest

    for kwargs, name in (({"prompt_weight": -1.0}, "prompt_weight"), ({"tv_weight": -1.0}, "tv_weight"), ({"l1_weight": -1.0}, "l1_weight")):
        with pytest.raises(ValueError, match=f"objective {name} must be non-negative; got -1.0"):
            Objective(**kwargs)
    assert PromptTerm(2.0, arctanh=False).needs_prompts and not PromptTerm(0.0, arctanh=False).needs_prompts
