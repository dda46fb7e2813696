"""torchmetrics for what a run optimises: aesthetic score and prompt similarity.

Metrics accumulate on the device every step (no host sync) and are read only when the
module logs, every ``trainer.log_every_n_steps``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torchmetrics import MeanMetric, MetricCollection


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


def score_metrics() -> MetricCollection:
    """One collection per stage, logged as ``train/metric/...``."""
    return MetricCollection({"aesthetic": AestheticScore(), "similarity": TextImageSimilarity()})


def update_from_values(metrics: MetricCollection, values: dict[str, Tensor]) -> None:
    """Feed a step's per-image term values (``Terms.values``) into the metrics."""
    if "aesthetic" in values:
        metrics["aesthetic"].update(values["aesthetic"].detach())
    if "positive" in values:
        metrics["similarity"].update((values["positive"] - values.get("negative", 0 * values["positive"])).detach())


def summarize(scores: list[dict[str, float]]) -> dict[str, float]:
    """Clean-image scores (``DirectAscent.evaluate``) -> the metrics, for PNG metadata."""
    import torch

    metrics = score_metrics()
    values: dict[str, Tensor] = {}
    for key in ("aesthetic", "positive", "negative"):
        if scores and all(key in s for s in scores):
            values[key] = torch.tensor([s[key] for s in scores])
    update_from_values(metrics, values)
    return {name: float(m.compute()) for name, m in metrics.items() if m.update_count}
