"""Scoring finished images with models that did not guide them.

A guide can be fooled (pixel-level optimisation finds adversarial patterns that only the
guide believes); a model that never saw the optimisation cannot. Classifiers report top-1
agreement with the target class and its probability; text-image scorers report their
positive / negative similarity and, where they have a head, the aesthetic score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from dasag.scorers import registry
from dasag.scorers.base import Scorer, score_key


def check_names(names: Sequence[str]) -> None:
    """Held-out judges, checked before anything loads: each a scorer name that can be built here
    (:mod:`dasag.scorers.registry`), none named twice; one sentence otherwise."""
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"--eval-scorer names {n!r} twice; name each held-out judge once.")
        seen.add(n)
        registry.check(n, "--eval-scorer")


def check_not_guide(names: Sequence[str], method: str, scorer: Any) -> None:
    """None of the judges ``names`` guides ``method`` (its ``model.scorer`` mapping, an ensemble's
    members included): a judge that guided the picture is not held out. One sentence otherwise."""
    named = lambda c: registry.config_of(c) if isinstance(c, str) else c  # noqa: E731  a config may name its scorer by registry name
    scorer = named(scorer)
    members = [named(m) for m in (scorer.get("init_args") or {}).get("scorers", [])] if isinstance(scorer, dict) else []
    for n in names:
        if any(registry.get(n).names_config(m) for m in [scorer, *members]):
            raise ValueError(f"--eval-scorer {n!r} guides method {method!r}, so it is not held out there; name a judge that guides no method of the run.")


def judge(name: str) -> Scorer:
    """The held-out judge a name stands for, constructed (no weights read)."""
    return registry.build(name, "--eval-scorer")


def key(name: str, field: str) -> str:
    """A held-out score's key: the score key scheme under ``heldout/``, so a held-out model (even the
    guide's own, e.g. ``--eval-scorer siglip``) never shadows the guide's ``<member>/<field>`` keys."""
    return score_key(f"heldout/{name}", field)


def classifier_judges(columns: Iterable[str]) -> list[str]:
    """The classifier judges a table's columns hold (``heldout/<name>/top1``), in column order: the
    inverse of :func:`key`, whole names included (``timm:NAME@/path/to/FILE`` holds slashes)."""
    prefix, suffix = key("\0", "top1").split("\0")  # key(name, "top1") == prefix + name + suffix
    return [c[len(prefix) : -len(suffix)] for c in columns if c.startswith(prefix) and c.endswith(suffix) and len(c) > len(prefix) + len(suffix)]


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
