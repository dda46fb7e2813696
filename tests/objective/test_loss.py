"""The objective: built-in terms made from its weights, the prompts it needs, extra terms summed into the loss, and every term's check."""

from __future__ import annotations

import pytest
import torch

from dasag.core.schedules import Constant, Linear
from dasag.objective.base import Contribution, MemberScores, StepContext, Term
from dasag.objective.builtin_terms import AestheticTerm, L1Term, PromptTerm, TotalVariationTerm
from dasag.objective.loss import Objective
from dasag.scorers import EfficientNetLite, ScorerEnsemble
from dasag.scorers.base import Scores


def scorer() -> ScorerEnsemble:
    return ScorerEnsemble([EfficientNetLite("lite0", input_size=32)])  # built, never loaded


def context(positive: list[float], negative: list[float], num_images: int = 1, step: int = 2, aesthetic: list[float] | None = None) -> StepContext:
    scores = Scores(positive=torch.tensor(positive), negative=torch.tensor(negative), bounded=False,
                    aesthetic=None if aesthetic is None else torch.tensor(aesthetic))
    return StepContext([MemberScores("lite0", 1.0, scores)], torch.zeros(num_images, 3, 8, 8), step, 10, scorer())


class Constant7(Term):
    """An extra term: 7 per image, logged under its name."""

    name = "seven"

    def __call__(self, ctx: StepContext) -> Contribution:
        value = torch.full((ctx.num_images,), 7.0)
        return Contribution(value, {self.name: value})


class Recorder(Term):
    """An extra term that records the scorers it was checked against and adds nothing to the loss."""

    name = "recorder"

    def __init__(self, needs: bool = False, refuse: bool = False) -> None:
        self.checked: list[ScorerEnsemble] = []
        self.needs = needs
        self.refuse = refuse

    @property
    def needs_prompts(self) -> bool:
        return self.needs

    def check(self, scorer: ScorerEnsemble) -> None:
        self.checked.append(scorer)
        if self.refuse:
            raise ValueError("recorder refuses this scorer.")

    def __call__(self, ctx: StepContext) -> Contribution:
        return Contribution(None, {"recorder/step": torch.full((ctx.num_images,), float(ctx.step))})


def test_the_built_in_terms_are_made_from_the_objectives_weights_in_order():
    extra = Constant7()
    obj = Objective(prompt_weight=2.0, arctanh=True, aesthetic_weight=0.3, reverse_aesthetic=True, tv_weight=0.01, l1_weight=0.5,
                    terms=[extra], arctanh_on="batch_mean", regulariser_units="image_sum")
    prompt, aesthetic, tv, l1, last = obj.terms
    assert [type(t) for t in obj.terms[:4]] == [PromptTerm, AestheticTerm, TotalVariationTerm, L1Term] and last is extra
    assert obj.prompt is prompt and obj.aesthetic is aesthetic
    assert (prompt.weight, prompt.arctanh, prompt.arctanh_on) == (2.0, True, "batch_mean")
    assert aesthetic.weight_at(5, 10) == -0.3  # a number is a constant schedule; rAG flips its sign
    assert (tv.weight, tv.units, l1.weight, l1.units) == (0.01, "image_sum", 0.5, "image_sum")
    schedule = Linear(0.0, 1.0)
    assert Objective(aesthetic_weight=schedule).aesthetic.weight_at(3, 7) == pytest.approx(schedule(3, 7))


def test_the_defaults_are_stated_once_in_the_objective():
    prompt, aesthetic, tv, l1 = Objective().terms
    assert (prompt.weight, prompt.arctanh, prompt.arctanh_on) == (1.0, False, "copy")
    assert aesthetic.weight_at(0, 10) == 0.0 and aesthetic.weight_at(9, 10) == 0.0
    assert (tv.weight, l1.weight, tv.units, l1.units) == (1e-8, 0.0, "original", "original")


def test_needs_prompts_follows_the_prompt_weight_and_any_term_that_reads_prompts():
    assert Objective().needs_prompts
    assert Objective(prompt_weight=0.5).needs_prompts
    assert not Objective(prompt_weight=0).needs_prompts  # prompt-free generation
    assert not Objective(prompt_weight=0, terms=[Recorder(needs=False)]).needs_prompts
    assert Objective(prompt_weight=0, terms=[Recorder(needs=True)]).needs_prompts


def test_extra_terms_are_added_to_the_loss_and_their_values_kept():
    ctx = context([0.5, 0.2], [0.1, 0.1], num_images=2)
    plain = Objective(tv_weight=0)(ctx)
    extended = Objective(tv_weight=0, terms=[Constant7(), Recorder()])(ctx)
    torch.testing.assert_close(extended.loss, plain.loss + 7.0)  # the recorder adds nothing: its loss is None
    torch.testing.assert_close(plain.loss, -torch.tensor([0.4, 0.1]))  # -(pos - neg) per image
    assert set(extended.values) == set(plain.values) | {"seven", "recorder/step"}
    assert torch.equal(extended.values["recorder/step"], torch.tensor([2.0, 2.0]))


def test_terms_that_come_with_the_prompts_are_added_for_one_call_only():
    obj = Objective(prompt_weight=0, tv_weight=0)
    ctx = context([0.0], [0.0])
    with_extra = obj(ctx, extra=[Constant7()])
    assert with_extra.loss.item() == 7.0 and "seven" in with_extra.values
    assert obj(ctx).loss.item() == 0.0 and "seven" not in obj(ctx).values
    assert len(obj.terms) == 4


def test_the_loss_is_fp32_per_image_even_with_nothing_to_add():
    obj = Objective(prompt_weight=0, tv_weight=0)
    result = obj(context([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], num_images=3))
    assert result.loss.dtype == torch.float32 and torch.equal(result.loss, torch.zeros(3))

    class Half(Term):
        name = "half"

        def __call__(self, ctx: StepContext) -> Contribution:
            return Contribution(torch.full((ctx.num_images,), 0.5, dtype=torch.float16))

    assert Objective(prompt_weight=0, tv_weight=0, terms=[Half()])(context([0.0], [0.0])).loss.dtype == torch.float32


def test_the_aesthetic_weight_is_the_plans_when_the_step_has_one():
    obj = Objective(prompt_weight=0, tv_weight=0, aesthetic_weight=Constant(1.0))
    ctx = context([0.0], [0.0], aesthetic=[5.0])
    assert obj(ctx).loss.item() == pytest.approx(-0.5)  # -λ · aesthetic / 10 with the schedule's λ = 1
    planned = StepContext(ctx.members, ctx.images, ctx.step, ctx.schedule_steps, ctx.scorer, weights={"aesthetic": 4.0})
    assert obj(planned).loss.item() == pytest.approx(-2.0)


def test_check_meets_every_term_with_the_runs_scorer():
    first, second = Recorder(), Recorder()
    obj = Objective(terms=[first, second])
    ensemble = scorer()
    obj.check(ensemble)
    assert first.checked == [ensemble] and second.checked == [ensemble]
    with pytest.raises(ValueError, match="recorder refuses this scorer"):
        Objective(terms=[Recorder(refuse=True)]).check(ensemble)


def test_the_repr_names_every_term():
    text = repr(Objective(terms=[Constant7()]))
    assert text.startswith("Objective(terms=[") and text.count("Term") >= 4 and "Constant7" in text
