"""The loss that gradient ascent minimises, as a sum of terms.

    loss = - λ_prompt · (f(pos) - f(neg))  - λ_aes(t) · aesthetic / 10  + λ_tv · TV + λ_l1 · L1  + extra terms

Where DAS-AG v2 defined a part differently from us, both definitions are settings (see
docs/fidelity.md): ``arctanh_on`` (per copy, ours, or on the batch mean, the original's) and
``regulariser_units`` (the original's mean |Δ| and mean |x| over the scorer's input batch, the
default so its slider values carry over, or sums over the clean image).

Every part is a :class:`Term`: it reads one :class:`StepContext` (the ensemble's scores on
the augmented copies, the clean images, the step) and returns a :class:`Contribution` (its
loss per image and the values it logs). :class:`Objective` holds the built-in terms, made
from its constructor arguments so a config only names weights, plus any extra ones (style,
reference image). Per-image values are averaged over that image's augmented copies and
losses are summed over images, so each of ``num_images`` images gets exactly the gradient
it would get alone.

Score keys: every value a scorer produces is logged as ``<member>/<field>`` (``lite0/positive``,
``siglip/aesthetic``), the same key in the objective's values, the metrics, the logs, the
progress bar, :meth:`DirectAscent.evaluate` and PNG metadata; regulariser and extra terms
log under their own name (``tv``, ``style``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from dasag.schedules import Schedule, as_schedule
from dasag.scorers.base import Scores

if TYPE_CHECKING:
    from dasag.scorers.ensemble import ScorerEnsemble

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


def score_key(member: str, field: str) -> str:
    """The one name of a scorer's value everywhere: ``<member>/<field>``."""
    return f"{member}/{field}"


@dataclass(frozen=True)
class MemberScores:
    """One ensemble member's scores on the step's augmented copies (image-major)."""

    name: str
    weight: float
    scores: Scores


@dataclass(frozen=True)
class StepContext:
    """Everything a term may read at one step."""

    members: list[MemberScores]
    #: The un-augmented visible images, (num_images, 3, V, V) in [-1, 1].
    images: Tensor
    step: int
    #: The length every schedule is evaluated over (``DirectAscent.schedule_steps``).
    schedule_steps: int
    #: The run's scorer ensemble (a reference term embeds its images with it, once).
    scorer: ScorerEnsemble
    #: The augmented copies the members scored, (num_images * B, 3, V, V), image-major;
    #: ``None`` means the clean images were scored as they are.
    copies: Tensor | None = None
    #: How hard the positive and the negative prompts count: each side's mean prompt weight
    #: (:meth:`dasag.data.PromptSet.strengths`); 1 and 1 for unweighted prompts.
    prompt_strengths: tuple[float, float] = (1.0, 1.0)

    @cached_property
    def scorer_input(self) -> Tensor:
        """The scored batch (the copies, else the clean images) resized to the first member's
        input side, in [-1, 1] units: computed once per step, whichever terms read it."""
        batch = self.images if self.copies is None else self.copies
        return self.scorer.members[0].resize_input(batch.float())

    @property
    def num_images(self) -> int:
        return self.images.shape[0]

    def per_image(self, x: Tensor) -> Tensor:
        """Mean over each image's augmented copies: (num_images * B,) -> (num_images,)."""
        return x.float().view(self.num_images, -1).mean(dim=1)


@dataclass
class Contribution:
    """A term's part of one step: its loss per image (``None``: adds nothing) and logged values."""

    loss: Tensor | None
    values: dict[str, Tensor] = field(default_factory=dict)


class Term:
    """One part of the loss. Subclasses set ``name`` and implement :meth:`__call__`."""

    name: str = "term"

    def check(self, scorer: ScorerEnsemble) -> None:
        """Meet the run's scorer once, before any weights load, and refuse what cannot work
        (e.g. a style embedding made with another model); the default accepts any scorer."""

    @property
    def needs_prompts(self) -> bool:
        """Whether this term reads the prompts (only the prompt term does)."""
        return False

    def __call__(self, ctx: StepContext) -> Contribution:
        raise NotImplementedError


class PromptTerm(Term):
    """``-λ · (w⁺ f(pos) - w⁻ f(neg))`` per member (times the member's weight); logs pos and neg.

    Weighted prompts (:mod:`dasag.prompts`): ``pos`` is the weight-averaged agreement of the positive
    prompts and ``w⁺`` their mean weight (likewise for the negative side), so without arctanh a
    prompt's agreement counts times its weight, divided by the number of prompts on its side, as
    the plain mean always did. Averaging before ``f`` keeps a similarity inside arctanh's domain.
    Unweighted prompts have ``w⁺ = w⁻ = 1``: the loss of before, computed the same way.
    """

    name = "prompt"

    def __init__(self, weight: float, arctanh: bool, arctanh_on: str = "copy") -> None:
        if weight < 0:
            raise ValueError(f"objective prompt_weight must be non-negative; got {weight}.")
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
        w = self.weight_at(ctx.step, ctx.schedule_steps)
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
        if weight < 0:
            raise ValueError(f"objective {self.name}_weight must be non-negative; got {weight}.")
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


@dataclass
class StepLoss:
    """One step's loss per image (num_images,) and every value its terms logged, per image."""

    loss: Tensor
    values: dict[str, Tensor] = field(default_factory=dict)


class Objective:
    """The built-in terms (prompt, aesthetic, TV, L1) from their weights, plus extra terms.

    The built-in terms take their weights from here, the one place their defaults are stated.
    """

    def __init__(
        self,
        prompt_weight: float = 1.0,
        arctanh: bool = False,
        aesthetic_weight: Schedule | float = 0.0,
        reverse_aesthetic: bool = False,
        tv_weight: float = 1e-8,
        l1_weight: float = 0.0,
        terms: list[Term] | None = None,
        arctanh_on: Literal["copy", "batch_mean"] = "copy",
        regulariser_units: Literal["original", "image_sum"] = "original",
    ) -> None:
        """
        Args:
            prompt_weight: λ_prompt, weight of positive-minus-negative prompt agreement; 0 makes
                the run prompt-free (an empty prompt list is then allowed).
            arctanh: map similarities through a clamped arctanh (stretches the top end).
            aesthetic_weight: λ_aes(t), a schedule (DAS-AG: exponential decay 0 -> 1).
            reverse_aesthetic: minimise the aesthetic score instead (DAS-rAG).
            tv_weight: weight of the total-variation regulariser (in ``regulariser_units``; the
                original app's slider: 10^-8 to 1).
            l1_weight: weight of the L1 norm (pulls towards grey; the original app's slider: 0 to 0.5).
            terms: extra terms (e.g. a style embedding or a reference image).
            arctanh_on: ``copy`` (default): arctanh per augmented copy, then the mean, so the loss
                is an expectation over augmentations; ``batch_mean``: arctanh of the mean
                similarity (DAS-AG v2).
            regulariser_units: ``original`` (default): TV = mean |Δ| and L1 = mean |x| over the
                scorer's input batch, DAS-AG v2's definition, so its weights carry over;
                ``image_sum``: sum of Δ² and of |x| over the clean visible image.
        """
        self.prompt = PromptTerm(prompt_weight, arctanh, arctanh_on)
        self.aesthetic = AestheticTerm(aesthetic_weight, reverse_aesthetic)
        self.terms: list[Term] = [
            self.prompt, self.aesthetic, TotalVariationTerm(tv_weight, regulariser_units), L1Term(l1_weight, regulariser_units), *(terms or []),
        ]

    @property
    def needs_prompts(self) -> bool:
        """Whether the run needs at least one positive prompt."""
        return any(term.needs_prompts for term in self.terms)

    def check(self, scorer: ScorerEnsemble) -> None:
        """Every term meets the run's scorer before weights load (see :meth:`Term.check`)."""
        for term in self.terms:
            term.check(scorer)

    def __call__(self, ctx: StepContext, extra: Sequence[Term] = ()) -> StepLoss:
        """The step's loss per image; ``extra``: terms that come with the prompts (image prompts)."""
        loss = ctx.images.new_zeros(ctx.num_images, dtype=torch.float32)
        values: dict[str, Tensor] = {}
        for term in [*self.terms, *extra]:
            part = term(ctx)
            if part.loss is not None:
                loss = loss + part.loss.float()
            values.update(part.values)
        return StepLoss(loss=loss, values=values)

    def __repr__(self) -> str:
        return f"Objective(terms={self.terms})"
