"""Scoring finished images with models that did not guide them.

A guide can be fooled (pixel-level optimisation finds adversarial patterns that only the
guide believes); a model that never saw the optimisation cannot. Classifiers report top-1
agreement with the target class and its probability; text-image scorers report their
positive / negative similarity and, where they have a head, the aesthetic score.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dasag.scorers import registry
from dasag.scorers.base import Scorer, score_key


def check_names(names: list[str]) -> None:
    """Every held-out judge is a scorer name (:mod:`dasag.scorers.registry`); one sentence otherwise."""
    for n in names:
        registry.get(n, "--eval-scorer")


def judge(name: str) -> Scorer:
    """The held-out judge a name stands for, constructed (no weights read)."""
    return registry.build(name)


def key(name: str, field: str) -> str:
    """A held-out score's key: the score key scheme under ``heldout/``, so a held-out model (even the
    guide's own, e.g. ``--eval-scorer siglip``) never shadows the guide's ``<member>/<field>`` keys."""
    return score_key(f"heldout/{name}", field)


def columns(name: str, scorer: Scorer) -> list[str]:
    """The ``scores.csv`` columns one held-out scorer adds: top-1 and target probability for a
    classifier, positive / negative similarity (and aesthetic where it has a head) otherwise."""
    if scorer.capabilities.classifier:
        return [key(name, "top1"), key(name, "prob")]
    return [key(name, "positive"), key(name, "negative")] + ([key(name, "aesthetic")] if scorer.capabilities.aesthetic else [])


@torch.no_grad()
def score(name: str, scorer: Scorer, images: Tensor, positive: list[str], negative: list[str]) -> dict[str, float]:
    """One image (batch of 1) -> this scorer's held-out columns."""
    images = images.to(scorer.device)
    if scorer.capabilities.classifier:
        from dasag.scorers.imagenet import resolve_class

        target = resolve_class(positive[0])
        probs = scorer.logits(images).softmax(dim=-1)[0]
        return {key(name, "top1"): int(int(probs.argmax()) == target), key(name, "prob"): float(probs[target])}
    scorer.prepare(positive, negative)
    s = scorer(images)
    out = {key(name, "positive"): float(s.positive[0]), key(name, "negative"): float(s.negative[0])}
    if s.aesthetic is not None:
        out[key(name, "aesthetic")] = float(s.aesthetic[0])
    return out
