"""Several scorers with weights, evaluated on the same augmented batch."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dasag.scorers.base import Scorer, Scores


class ScorerEnsemble(nn.Module):
    """A weighted list of scorers; a single scorer is an ensemble of one.

    Each member scores the images on its own terms (its own input size and targets); the
    objective weights each member's loss, so a similarity-based and a log-probability-based
    scorer can be combined without mixing their units.
    """

    def __init__(self, scorers: Sequence[Scorer], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if not scorers:
            raise ValueError("an ensemble needs at least one scorer; got none.")
        weights = [1.0] * len(scorers) if weights is None else list(weights)
        if len(weights) != len(scorers):
            raise ValueError(f"ensemble weights must match the scorers one to one: {len(scorers)} scorers, {len(weights)} weights.")
        if any(w < 0 for w in weights):
            raise ValueError(f"ensemble weights must be non-negative; got {weights}.")
        self.members = nn.ModuleList(scorers)
        self.weights = [float(w) for w in weights]

    def validate_prompts(self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True) -> None:
        for s in self.members:
            s.validate_prompts(positive, negative, require_positive)

    def prepare(
        self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True,
        positive_weights: Sequence[float] = (), negative_weights: Sequence[float] = (),
    ) -> None:
        for s in self.members:
            s.prepare(positive, negative, require_positive, positive_weights, negative_weights)

    def forward(self, images: Tensor) -> list[tuple[float, Scores]]:
        return [(w, s(images)) for w, s in zip(self.weights, self.members)]

    @property
    def stochastic(self) -> bool:
        """Whether any member's scores carry dropout noise (an aesthetic head with dropout rates)."""
        return any(s.stochastic for s in self.members)

    def train(self, mode: bool = True) -> ScorerEnsemble:
        return super().train(False)

    @property
    def names(self) -> list[str]:
        """Member names, made unique (``lite0``, ``lite0_1``): the prefix of each member's score keys."""
        seen: dict[str, int] = {}
        out = []
        for s in self.members:
            k = seen.get(s.name, 0)
            out.append(s.name if k == 0 else f"{s.name}_{k}")
            seen[s.name] = k + 1
        return out
