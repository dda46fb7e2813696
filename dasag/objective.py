"""The loss that gradient ascent minimises, term by term.

    loss = - λ_aes(t) · aesthetic / 10  - λ_prompt · (f(pos) - f(neg))  + λ_tv · TV + λ_l1 · L1

``pos``/``neg`` come from each scorer (cosine similarity for text models, log-probability
for classifiers), ``f`` is the identity or a clamped arctanh (only for bounded similarity
scores: arctanh(±1) is infinite), and reverse aesthetic guidance flips the sign of λ_aes.
Per-image terms are averaged over that image's augmented copies and summed over images,
so each of ``num_images`` images gets exactly the gradient it would get alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from dasag.scorers.base import Scores
from dasag.schedules import Schedule, as_schedule

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


class Term:
    """An extra loss term (style, reference image, ...): per-image values, already signed.

    Subclasses return a (num_images,) tensor that is *added* to the loss; ``name`` keys it
    in logs. ``members`` are the ensemble's scores on the augmented copies (image-major),
    ``images`` the un-augmented visible images.
    """

    name: str = "term"

    def bind(self, scorer: "ScorerEnsemble") -> None:
        """Meet the run's scorer once, before any weights load (``DirectAscent.__init__``).

        Terms that depend on the scorer check compatibility here (e.g. a style embedding made
        with another model is refused) and keep it for later use; the default does nothing.
        """

    def __call__(self, members: list[tuple[float, Scores]], images: Tensor, num_images: int, step: int, total_steps: int) -> Tensor:
        raise NotImplementedError


@dataclass
class Terms:
    """Every term of one step's loss, per image (num_images,), before weighting."""

    loss: Tensor
    values: dict[str, Tensor] = field(default_factory=dict)


class Objective:
    """Combines scorer outputs and regularisers into one scalar loss per image."""

    def __init__(
        self,
        prompt_weight: float = 1.0,
        arctanh: bool = False,
        aesthetic_weight: Schedule | float = 0.0,
        reverse_aesthetic: bool = False,
        tv_weight: float = 1e-8,
        l1_weight: float = 0.0,
        terms: list[Term] | None = None,
    ) -> None:
        """
        Args:
            prompt_weight: λ_prompt, weight of positive-minus-negative prompt agreement.
            arctanh: map similarities through a clamped arctanh (stretches the top end).
            aesthetic_weight: λ_aes(t), a schedule (DAS-AG: exponential decay 0 -> 1).
            reverse_aesthetic: minimise the aesthetic score instead (DAS-rAG).
            tv_weight: weight of the total-variation regulariser on the visible image.
            l1_weight: weight of the L1 norm of the visible image (pulls towards grey).
            terms: extra loss terms (e.g. a style embedding or a reference image).
        """
        for name, v in (("prompt_weight", prompt_weight), ("tv_weight", tv_weight), ("l1_weight", l1_weight)):
            if v < 0:
                raise ValueError(f"objective {name} must be non-negative; got {v}.")
        self.prompt_weight = prompt_weight
        self.arctanh = arctanh
        self.aesthetic_weight = as_schedule(aesthetic_weight)
        self.reverse_aesthetic = reverse_aesthetic
        self.tv_weight = tv_weight
        self.l1_weight = l1_weight
        self.terms = list(terms or [])

    def bind(self, scorer: "ScorerEnsemble") -> None:
        """Hand the run's scorer to every extra term (see :meth:`Term.bind`)."""
        for term in self.terms:
            term.bind(scorer)

    def aesthetic_weight_at(self, step: int, total_steps: int) -> float:
        """λ_aes at a step, with the reverse switch applied (negative under rAG)."""
        w = self.aesthetic_weight(step, total_steps)
        return -w if self.reverse_aesthetic else w

    def prompt_term(self, scores: Scores) -> Tensor:
        """f(pos) - f(neg) per copy."""
        if self.arctanh and scores.bounded:
            return safe_arctanh(scores.positive) - safe_arctanh(scores.negative)
        return scores.positive - scores.negative

    def __call__(
        self,
        members: list[tuple[float, Scores]],
        images: Tensor,
        num_images: int,
        step: int,
        total_steps: int,
    ) -> Terms:
        """Loss per image from the ensemble's scores on ``num_images * B`` copies.

        ``images`` are the un-augmented visible images (num_images, 3, V, V) for the
        regularisers and extra terms.
        """
        aesthetic_weight = self.aesthetic_weight_at(step, total_steps)
        loss = images.new_zeros(num_images, dtype=torch.float32)
        values: dict[str, Tensor] = {}

        def per_image(x: Tensor) -> Tensor:
            return x.float().view(num_images, -1).mean(dim=1)

        for i, (weight, scores) in enumerate(members):
            prompt = per_image(self.prompt_term(scores))
            loss = loss - weight * self.prompt_weight * prompt
            suffix = "" if len(members) == 1 else f"_{i}"
            values[f"positive{suffix}"] = per_image(scores.positive)
            values[f"negative{suffix}"] = per_image(scores.negative)
            if scores.aesthetic is not None:
                aes = per_image(scores.aesthetic)
                values[f"aesthetic{suffix}"] = aes
                if aesthetic_weight != 0:
                    loss = loss - weight * aesthetic_weight * aes / 10.0
        if self.tv_weight:
            tv = total_variation(images.float())
            values["tv"] = tv
            loss = loss + self.tv_weight * tv
        if self.l1_weight:
            l1 = images.float().abs().sum(dim=(1, 2, 3))
            values["l1"] = l1
            loss = loss + self.l1_weight * l1
        for term in self.terms:
            value = term(members, images, num_images, step, total_steps).float()
            values[term.name] = value
            loss = loss + value
        return Terms(loss=loss, values=values)

    def __repr__(self) -> str:
        return (
            f"Objective(prompt_weight={self.prompt_weight}, arctanh={self.arctanh}, aesthetic_weight={self.aesthetic_weight}, "
            f"reverse_aesthetic={self.reverse_aesthetic}, tv_weight={self.tv_weight}, l1_weight={self.l1_weight}, terms={self.terms})"
        )
