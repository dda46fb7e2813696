"""The built-in terms: prompt agreement, aesthetic score, total variation and L1.

    - λ_prompt · (f(pos) - f(neg))  - λ_aes(t) · aesthetic / 10  + λ_tv · TV + λ_l1 · L1

Where DAS-AG v2 defined a part differently from us, both definitions are settings (see
docs/fidelity.md): ``arctanh_on`` (per copy, ours, or on the batch mean, the original's) and
``regulariser_units`` (the original's mean |Δ| and mean |x| over the scorer's input batch, the
default so its slider values carry over, or sums over the clean image).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dasag.core.ranges import TERM_WEIGHT
from dasag.core.schedules import Schedule, as_schedule
from dasag.objective.base import Contribution, StepContext, Term
from dasag.scorers.base import Scores, score_key

#: arctanh is applied to similarities clamped to [-ARCTANH_LIMIT, ARCTANH_LIMIT].
ARCTANH_LIMIT = 1.0 - 1e-4


def safe_arctanh(x: Tensor, limit: float = ARCTANH_LIMIT) -> Tensor:
    """arctanh of x clamped into the open interval: finite value and gradient everywhere."""
    return torch.atanh(x.clamp(-limit, limit))


def total_variation(images: Tensor) -> Tensor:
    """Sum of squared neighbour differences per image, (N,)."""
    dh = (images[..., 1:, :] - images[..., :-1, :]).pow(2).sum(dim=(1, 2, 3))
    dw = (images[..., :, 1:] - images[..., :, :-1]).pow(2).sum(dim=(1, 2, 3))
    return dh + dw


def mean_abs_variation(images: Tensor) -> Tensor:
    """DAS-AG v2's TV per image, (N,): mean |vertical difference| + mean |horizontal difference|."""
    dh = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    dw = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    return dh + dw


#: ``regulariser_units``: what TV and L1 measure (docs/fidelity.md has the factor between them).
REGULARISER_UNITS = ("original", "image_sum")


#: ``arctanh_on``: where the arctanh of the prompt similarity is taken.
ARCTANH_ON = ("copy", "batch_mean")


class PromptTerm(Term):
    """``-λ · (w⁺ f(pos) - w⁻ f(neg))`` per member (times the member's weight); logs pos and neg.

    Weighted prompts (:mod:`dasag.core.prompts`): ``pos`` is the weight-averaged agreement of the positive
    prompts and ``w⁺`` their mean weight (likewise for the negative side), so without arctanh a
    prompt's agreement counts times its weight, divided by the number of prompts on its side, as
    the plain mean always did. Averaging before ``f`` keeps a similarity inside arctanh's domain.
    Unweighted prompts have ``w⁺ = w⁻ = 1``: the loss of before, computed the same way.
    """

    name = "prompt"

    def __init__(self, weight: float, arctanh: bool, arctanh_on: str = "copy") -> None:
        TERM_WEIGHT.check(weight, "objective prompt_weight", "1 is the default pull")
        if arctanh_on not in ARCTANH_ON:
            raise ValueError(f"objective arctanh_on must be one of {', '.join(ARCTANH_ON)}; got {arctanh_on!r}.")
        self.weight = weight
        self.arctanh = arctanh
        self.arctanh_on = arctanh_on

    @property
    def needs_prompts(self) -> bool:
        return self.weight != 0  # prompt-free generation: an empty prompt list is allowed

    def agreement(self, scores: Scores, ctx: StepContext) -> Tensor:
        """f(pos) - f(neg) per image; arctanh only for bounded (similarity) scores.

        ``copy``: the mean over an image's copies of f(similarity), an unbiased estimate of the
        expected loss over augmentations whatever the number of copies. ``batch_mean``: f of the
        mean similarity over the copies (DAS-AG v2), whose gradient weights every copy alike.
        """
        wp, wn = ctx.prompt_strengths

        def weighted(x: Tensor, w: float) -> Tensor:  # no multiplication at weight 1: unweighted runs keep their bytes
            return x if w == 1.0 else x * w

        if not (self.arctanh and scores.bounded):
            return ctx.per_image(weighted(scores.positive, wp) - weighted(scores.negative, wn))
        if self.arctanh_on == "batch_mean":
            return weighted(safe_arctanh(ctx.per_image(scores.positive)), wp) - weighted(safe_arctanh(ctx.per_image(scores.negative)), wn)
        return ctx.per_image(weighted(safe_arctanh(scores.positive), wp) - weighted(safe_arctanh(scores.negative), wn))

    def __call__(self, ctx: StepContext) -> Contribution:
        loss, values = None, {}
        for m in ctx.members:
            term = -(m.weight * self.weight) * self.agreement(m.scores, ctx)
            loss = term if loss is None else loss + term
            values[score_key(m.name, "positive")] = ctx.per_image(m.scores.positive)
            values[score_key(m.name, "negative")] = ctx.per_image(m.scores.negative)
        return Contribution(loss, values)


class AestheticTerm(Term):
    """``-λ_aes(t) · aesthetic / 10`` for members with an aesthetic head; reverse (rAG) flips λ."""

    name = "aesthetic"

    def __init__(self, weight: Schedule | float, reverse: bool = False) -> None:
        self.weight = as_schedule(weight)
        self.reverse = reverse

    def weight_at(self, step: int, total_steps: int) -> float:
        """λ_aes at a step, with the reverse switch applied (negative under rAG)."""
        w = self.weight(step, total_steps)
        return -w if self.reverse else w

    def __call__(self, ctx: StepContext) -> Contribution:
        w = ctx.weight_of(self)
        loss, values = None, {}
        for m in ctx.members:
            if m.scores.aesthetic is None:
                continue
            aesthetic = ctx.per_image(m.scores.aesthetic)
            values[score_key(m.name, "aesthetic")] = aesthetic
            if w != 0:
                term = -(m.weight * w) * aesthetic / 10.0
                loss = term if loss is None else loss + term
        return Contribution(loss, values)


class ImageRegulariser(Term):
    """``weight · measure(...)`` per image; adds nothing at weight 0.

    ``units="original"`` (DAS-AG v2): the mean of a per-pixel measure over the scorer's input
    batch, i.e. the augmented copies resized to the first member's input side, averaged over
    each image's copies; a weight means what the original's slider meant. ``"image_sum"``: a sum
    over the clean visible image, 10^3 (TV) to 10^6 (L1) times stronger at 768 px.
    Subclasses set ``name`` (which also names the weight, ``<name>_weight``), :meth:`mean_measure`
    and :meth:`sum_measure`.
    """

    def __init__(self, weight: float, units: str = "original") -> None:
        TERM_WEIGHT.check(weight, f"objective {self.name}_weight")
        if units not in REGULARISER_UNITS:
            raise ValueError(f"objective regulariser_units must be one of {', '.join(REGULARISER_UNITS)}; got {units!r}.")
        self.weight = weight
        self.units = units

    def mean_measure(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) fp32 images -> (N,) values in the original's units."""
        raise NotImplementedError

    def sum_measure(self, images: Tensor) -> Tensor:
        """(N, 3, V, V) fp32 images -> (N,) sums."""
        raise NotImplementedError

    def measure(self, ctx: StepContext) -> Tensor:
        """The per-image value this term weights."""
        if self.units == "image_sum":
            return self.sum_measure(ctx.images.float())
        return ctx.per_image(self.mean_measure(ctx.scorer_input))

    def __call__(self, ctx: StepContext) -> Contribution:
        if not self.weight:
            return Contribution(None)
        value = self.measure(ctx)
        return Contribution(self.weight * value, {self.name: value})


class TotalVariationTerm(ImageRegulariser):
    """``λ_tv · TV`` (smoothness): mean |Δ| (original units) or the sum of Δ² of the clean image."""

    name = "tv"

    def mean_measure(self, images: Tensor) -> Tensor:
        return mean_abs_variation(images)

    def sum_measure(self, images: Tensor) -> Tensor:
        return total_variation(images)


class L1Term(ImageRegulariser):
    """``λ_l1 · L1`` (pulls towards grey): mean |x| (original units) or the sum of |x| of the clean image."""

    name = "l1"

    def mean_measure(self, images: Tensor) -> Tensor:
        return images.abs().mean(dim=(1, 2, 3))

    def sum_measure(self, images: Tensor) -> Tensor:
        return images.abs().sum(dim=(1, 2, 3))
