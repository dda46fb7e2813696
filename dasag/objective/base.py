"""The term interface: what every part of the loss reads (:class:`StepContext`) and returns (:class:`Contribution`).

Every part of the loss is a :class:`Term`: it reads one :class:`StepContext` (the ensemble's scores
on the augmented copies, the clean images, the step and the step's scheduled weights) and returns a
:class:`Contribution` (its loss per image and the values it logs). Per-image values are averaged
over that image's augmented copies and losses are summed over images, so each of ``num_images``
images gets exactly the gradient it would get alone.

Score keys: every value a scorer produces is logged as ``<member>/<field>`` (``lite0/positive``,
``siglip/aesthetic``), the same key in the objective's values, the metrics, the logs, the
progress bar, :meth:`DirectAscent.evaluate` and PNG metadata; regulariser and extra terms
log under their own name (``tv``, ``style``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from torch import Tensor

from dasag.scorers.base import (
    Scores,  # re-exported: the key scheme terms log under
)
from dasag.scorers.ensemble import ScorerEnsemble


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
    #: (:meth:`dasag.run.data.PromptSet.strengths`); 1 and 1 for unweighted prompts.
    prompt_strengths: tuple[float, float] = (1.0, 1.0)
    #: Each scheduled term's weight at this step, by term name: the step's plan, evaluated by the
    #: annealing callback (:class:`~dasag.run.callbacks.ScheduleAnnealing`) before the step.
    weights: Mapping[str, float] = field(default_factory=dict)

    def weight_of(self, term: Term) -> float:
        """``term``'s scheduled weight at this step: the plan's value; a context built outside a
        run (a test, a tool) has no plan, and the term's schedule is evaluated here instead."""
        if term.name in self.weights:
            return self.weights[term.name]
        return term.weight_at(self.step, self.schedule_steps)

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

    def weight_at(self, step: int, total_steps: int) -> float | None:
        """This term's scheduled weight at ``step`` of ``total_steps`` (``None``: it has none).
        Only the annealing callback calls it during a run; the term reads the value back from
        :meth:`StepContext.weight_of`."""
        return None

    def check(self, scorer: ScorerEnsemble) -> None:
        """Meet the run's scorer once, before any weights load, and refuse what cannot work
        (e.g. a style embedding made with another model); the default accepts any scorer."""

    @property
    def needs_prompts(self) -> bool:
        """Whether this term reads the prompts (only the prompt term does)."""
        return False

    def __call__(self, ctx: StepContext) -> Contribution:
        raise NotImplementedError


@dataclass
class StepLoss:
    """One step's loss per image (num_images,) and every value its terms logged, per image."""

    loss: Tensor
    values: dict[str, Tensor] = field(default_factory=dict)
