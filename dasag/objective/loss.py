"""The objective: the loss gradient ascent minimises, as a sum of terms.

    loss = - λ_prompt · (f(pos) - f(neg))  - λ_aes(t) · aesthetic / 10  + λ_tv · TV + λ_l1 · L1  + extra terms

:class:`Objective` holds the built-in terms (:mod:`dasag.objective.builtin_terms`), made from its
constructor arguments so a config only names weights, plus any extra ones (style, reference
image: :mod:`dasag.objective.embedding_terms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from dasag.core.schedules import Schedule
from dasag.objective.base import StepContext, StepLoss, Term
from dasag.objective.builtin_terms import AestheticTerm, L1Term, PromptTerm, TotalVariationTerm

if TYPE_CHECKING:
    from dasag.scorers.ensemble import ScorerEnsemble


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
