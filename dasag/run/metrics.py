"""torchmetrics for what a run optimises: each member's aesthetic score and prompt similarity.

Metrics accumulate on the device every step (no host sync) and are read only when the
module logs, every ``trainer.log_every_n_steps``. They are keyed like every score
(``<member>/aesthetic``, ``<member>/similarity``; see :mod:`dasag.objective.loss`), so each
member of an ensemble has its own.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import MeanMetric, MetricCollection

from dasag.scorers.base import score_key
from dasag.scorers.ensemble import ScorerEnsemble


class _DeviceMean(MeanMetric):
    """A mean that never reads from the device on ``update``.

    torchmetrics' default NaN check (``isnan(x).any()`` turned into a Python bool) would
    force a host sync on every step; the objective already keeps its values finite
    (clamped arctanh), so the check is disabled.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("nan_strategy", "disable")
        super().__init__(**kwargs)


class AestheticScore(_DeviceMean):
    """Mean aesthetic-head score (about 1..10) of the images seen since the last reset."""


class TextImageSimilarity(_DeviceMean):
    """Mean agreement with the positive prompts minus the negative ones
    (cosine similarity for text-image scorers, log-probability for classifiers)."""


class ScoreMetrics(MetricCollection):
    """One similarity metric per ensemble member, and an aesthetic one per member that has a head."""

    def __init__(self, scorer: ScorerEnsemble, prefix: str = "") -> None:
        metrics: dict[str, Any] = {}
        for name, member in zip(scorer.names, scorer.members):
            metrics[score_key(name, "similarity")] = TextImageSimilarity()
            if member.capabilities.aesthetic:
                metrics[score_key(name, "aesthetic")] = AestheticScore()
        super().__init__(metrics, prefix=prefix, compute_groups=False)

    def sync_across_processes(self, enabled: bool) -> None:
        """Whether ``compute`` gathers every process's values: only when one run spans several
        processes (DDP). Workers of the harness each make their own images in a process group
        of their own; a gather there would wait for a worker busy with another image (for ever)."""
        for metric in self.values(copy_state=False):
            metric.sync_on_compute = enabled
            metric._to_sync = enabled  # torchmetrics copies the flag here at construction and after each compute

    def update(self, values: dict[str, Tensor]) -> None:  # type: ignore[override]
        """Feed per-image values keyed ``<member>/<field>`` (a step's objective values or clean scores)."""
        for key, metric in self.items(keep_base=True, copy_state=False):
            member, field = key.rsplit("/", 1)
            if field == "aesthetic" and key in values:
                metric.update(values[key].detach())
            elif field == "similarity" and score_key(member, "positive") in values:
                positive = values[score_key(member, "positive")]
                negative = values.get(score_key(member, "negative"), torch.zeros_like(positive))
                metric.update((positive - negative).detach())

    def compute_and_reset(self) -> dict[str, Tensor]:
        """The metrics updated since the last call (prefixed keys), then reset."""
        out = {f"{self.prefix or ''}{key}": m.compute() for key, m in self.items(keep_base=True, copy_state=False) if m.update_count}
        self.reset()
        return out


def summarize(scorer: ScorerEnsemble, scores: list[dict[str, float]]) -> dict[str, float]:
    """Clean-image scores (``DirectAscent.evaluate``) -> the metrics, for PNG metadata."""
    metrics = ScoreMetrics(scorer)
    keys = set(scores[0]) if scores else set()
    metrics.update({k: torch.tensor([s[k] for s in scores]) for k in keys if all(k in s for s in scores)})
    return {k: float(v) for k, v in metrics.compute_and_reset().items()}
