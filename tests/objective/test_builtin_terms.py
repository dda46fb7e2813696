"""The objective's terms, each on hand-made scores: sign, weighting, arctanh, schedules, keys."""

import pytest
import torch

from dasag.core.schedules import Constant
from dasag.objective.base import Contribution, MemberScores, StepContext, Term
from dasag.objective.builtin_terms import AestheticTerm, PromptTerm, safe_arctanh, total_variation
from dasag.objective.loss import Objective
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

    obj = Objective(prompt_weight=0, tv_weight=1.0, l1_weight=0.5, terms=[Plus()], regulariser_units="image_sum")
    terms = obj(ctx(_scores([0.0], [0.0]), images=images, step=4))
    assert terms.loss.item() == 6 + 0.5 * 3 + 4
    assert set(terms.values) >= {"tv", "l1", "plus"}
    assert not obj.needs_prompts and Objective().needs_prompts


def _original_tv(x: torch.Tensor) -> torch.Tensor:
    """DAS-AG v2's published definition on a batch: mean |x[h+1] - x[h]| + mean |x[w+1] - x[w]|."""
    return torch.diff(x, dim=2).abs().mean() + torch.diff(x, dim=3).abs().mean()


@pytest.mark.parametrize("input_size", [32, 48])
def test_regularisers_in_original_units_measure_the_scorers_input_batch(input_size):
    """Default units: TV = mean |Δ| and L1 = mean |x| over the augmented copies resized to the
    scorer's input, per image the mean over its own copies (the batch mean for one image)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    copies = torch.rand(6, 3, 32, 32, generator=gen) * 2 - 1  # 2 images x 3 copies, image-major
    scorer = ScorerEnsemble([EfficientNetLite("lite0", input_size=input_size, interpolation="bilinear", antialias=False)])
    context = StepContext([MemberScores("m0", 1.0, _scores([0.0] * 6, [0.0] * 6))], images, 0, 10, scorer, copies)
    terms = Objective(prompt_weight=0, tv_weight=0.01, l1_weight=0.25)(context)
    resized = torch.nn.functional.interpolate(copies, size=(input_size, input_size), mode="bilinear", align_corners=False)
    for i in range(2):
        batch = resized[3 * i : 3 * i + 3]
        assert terms.values["tv"][i].item() == pytest.approx(_original_tv(batch).item(), rel=1e-6)
        assert terms.values["l1"][i].item() == pytest.approx(batch.abs().mean().item(), rel=1e-6)
        assert terms.loss[i].item() == pytest.approx(0.01 * _original_tv(batch).item() + 0.25 * batch.abs().mean().item(), rel=1e-6)


def test_arctanh_on_the_batch_mean_or_per_copy():
    """DAS-AG v2: arctanh(mean similarity); ours by default: mean of arctanh(similarity)."""
    pos, neg = [0.2, 0.4, 0.3, 0.1], [0.05, -0.05, 0.0, 0.1]  # 2 images x 2 copies
    images = torch.zeros(2, 3, 4, 4)
    per_copy = Objective(arctanh=True, tv_weight=0)(ctx(_scores(pos, neg), images=images))
    batch = Objective(arctanh=True, tv_weight=0, arctanh_on="batch_mean")(ctx(_scores(pos, neg), images=images))
    p, n = torch.tensor(pos).view(2, 2), torch.tensor(neg).view(2, 2)
    assert torch.allclose(per_copy.loss, -(torch.atanh(p) - torch.atanh(n)).mean(dim=1))
    assert torch.allclose(batch.loss, -(torch.atanh(p.mean(dim=1)) - torch.atanh(n.mean(dim=1))))
    assert not torch.allclose(per_copy.loss, batch.loss)


def test_new_objective_settings_are_one_sentence():
    with pytest.raises(ValueError, match="objective arctanh_on must be one of copy, batch_mean; got 'mean'"):
        Objective(arctanh_on="mean")
    with pytest.raises(ValueError, match="objective regulariser_units must be one of original, image_sum; got 'sum'"):
        Objective(regulariser_units="sum")


def test_bad_weights_are_one_sentence():
    import pytest

    for kwargs, name in (({"prompt_weight": -1.0}, "prompt_weight"), ({"tv_weight": -1.0}, "tv_weight"), ({"l1_weight": -1.0}, "l1_weight")):
        with pytest.raises(ValueError, match=f"objective {name} must be a number from 0 to 1000.*; got -1.0"):
            Objective(**kwargs)
    assert PromptTerm(2.0, arctanh=False).needs_prompts and not PromptTerm(0.0, arctanh=False).needs_prompts
