"""The term interface: what a StepContext gives every term (per-image means, scheduled weights, the scorer's input) and Term's defaults."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dasag.core.schedules import Constant, Linear
from dasag.objective.base import Contribution, MemberScores, StepContext, StepLoss, Term
from dasag.objective.builtin_terms import AestheticTerm
from dasag.scorers import EfficientNetLite, ScorerEnsemble
from dasag.scorers.base import Scores


def lite0(input_size: int = 32) -> EfficientNetLite:
    """Built, never loaded: its input size and resampling are known from its settings alone."""
    return EfficientNetLite("lite0", input_size=input_size, interpolation="bilinear", antialias=False)


def context(num_images: int = 2, copies: torch.Tensor | None = None, step: int = 3, total: int = 10, weights=None,
            scorer: ScorerEnsemble | None = None, side: int = 32) -> StepContext:
    n = num_images if copies is None else copies.shape[0]
    scores = Scores(positive=torch.zeros(n), negative=torch.zeros(n), bounded=True)
    images = torch.linspace(-1, 1, num_images * 3 * side * side).view(num_images, 3, side, side)
    return StepContext([MemberScores("lite0", 1.0, scores)], images, step, total, scorer or ScorerEnsemble([lite0()]), copies,
                       weights=weights or {})


class Ramp(Term):
    """A scheduled term whose weight is step / total_steps, recording what it was asked."""

    name = "ramp"

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    def weight_at(self, step: int, total_steps: int) -> float:
        self.asked.append((step, total_steps))
        return step / total_steps


def test_per_image_averages_each_images_copies_image_major():
    ctx = context(num_images=2)
    values = torch.tensor([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])  # image 0's three copies, then image 1's
    assert torch.equal(ctx.per_image(values), torch.tensor([2.0, 20.0]))
    assert torch.equal(ctx.per_image(torch.tensor([4.0, 5.0])), torch.tensor([4.0, 5.0]))  # one copy each: the values themselves
    half = ctx.per_image(values.half())
    assert half.dtype == torch.float32 and torch.equal(half, torch.tensor([2.0, 20.0]))
    assert ctx.num_images == 2


def test_weight_of_reads_the_plans_weight_when_it_names_the_term():
    term = Ramp()
    ctx = context(step=3, total=10, weights={"ramp": 0.75, "aesthetic": 2.0})
    assert ctx.weight_of(term) == 0.75
    assert term.asked == []  # the plan is read, the schedule never evaluated
    assert ctx.weight_of(AestheticTerm(Constant(5.0))) == 2.0


def test_weight_of_evaluates_the_terms_own_schedule_without_a_plan():
    term = Ramp()
    ctx = context(step=3, total=10, weights={"aesthetic": 2.0})  # a plan that does not name this term
    assert ctx.weight_of(term) == pytest.approx(0.3)
    assert term.asked == [(3, 10)]
    schedule = Linear(0.0, 1.0)
    assert context(step=4, total=9).weight_of(AestheticTerm(schedule)) == pytest.approx(schedule(4, 9))
    assert context(step=4, total=9).weight_of(AestheticTerm(schedule, reverse=True)) == pytest.approx(-schedule(4, 9))


def test_a_terms_defaults():
    term = Term()
    assert term.weight_at(0, 10) is None and term.weight_at(9, 10) is None
    assert term.check(ScorerEnsemble([lite0()])) is None  # accepts any scorer
    assert term.needs_prompts is False
    with pytest.raises(NotImplementedError):
        term(context())


def test_scorer_input_resizes_the_copies_to_the_first_members_input():
    gen = torch.Generator().manual_seed(0)
    copies = torch.rand(6, 3, 32, 32, generator=gen) * 2 - 1
    ctx = context(num_images=2, copies=copies, scorer=ScorerEnsemble([lite0(48), lite0(64)]))
    expected = F.interpolate(copies, size=(48, 48), mode="bilinear", align_corners=False)
    assert ctx.scorer_input.shape == (6, 3, 48, 48)
    torch.testing.assert_close(ctx.scorer_input, expected)
    assert ctx.scorer_input is ctx.scorer_input  # computed once per step, whichever terms read it


def test_scorer_input_without_copies_is_the_clean_images_in_fp32():
    ctx = context(num_images=2, scorer=ScorerEnsemble([lite0(48)]))
    expected = F.interpolate(ctx.images, size=(48, 48), mode="bilinear", align_corners=False)
    torch.testing.assert_close(ctx.scorer_input, expected)
    half = context(num_images=1, copies=torch.zeros(2, 3, 32, 32, dtype=torch.float16), scorer=ScorerEnsemble([lite0(48)]))
    assert half.scorer_input.dtype == torch.float32


def test_a_contribution_and_a_step_loss_start_with_no_values():
    assert Contribution(None).values == {} and Contribution(torch.zeros(1)).loss is not None
    first, second = StepLoss(torch.zeros(1)), StepLoss(torch.zeros(1))
    first.values["x"] = torch.ones(1)
    assert second.values == {}  # each has its own dict
