"""What an image costs, counted rather than timed: the guides' floating-point operations.

A run's seconds per image depend on what else the machine was doing while it ran (the shared
two-core machines here inflate methods unevenly: in the committed transfer run the pyramid read
40 s per image and a recipe of the same per-step cost 24 s). The work does not: every step
scores ``copies`` augmented copies with each guide, forward and backward (to the picture only:
the guides' weights are frozen), so an image costs

    steps × copies × Σ_guides FLOPs(guide, its input side)

counted once per guide with PyTorch's ``FlopCounterMode`` on the guide's own architecture (no
weights are read). The pyramid's render and the augmentations are left out: for the transfer
suite's Lite0 methods they are about 2 % of a step (docs/quality.md). A guide is counted on the
network its scorer builds for counting (``Scorer.counting_network``: the ImageNet classifiers,
EfficientNet-Lite and timm); a method guided by a scorer without one has no counted cost (``None``).
"""

from __future__ import annotations

from typing import Any

import torch

from dasag.run.metadata import resolve_import_path
from dasag.scorers.base import Scorer


def _build(value: Any) -> Any:
    """A config value with its ``class_path`` objects constructed (constructors read no weights)."""
    if isinstance(value, dict) and "class_path" in value:
        return resolve_import_path(value["class_path"])(**{k: _build(v) for k, v in (value.get("init_args") or {}).items()})
    if isinstance(value, list):
        return [_build(v) for v in value]
    return value


#: Counted FLOPs per (scorer class, variant, side): building and counting a network takes a second.
_COUNTED: dict[tuple[str, str | None, int | None], int | None] = {}


def guide_flops(guide: Scorer, side: int | None = None) -> int | None:
    """One copy through ``guide``'s network at ``side`` px (its input side by default), forward and
    backward to the input, counted on :meth:`~dasag.scorers.base.Scorer.counting_network` (random
    weights); ``None`` when the guide has no network to count."""
    from torch.utils.flop_counter import FlopCounterMode

    side = side or (guide.preprocessing.size if guide.preprocessing is not None else None)
    key = (type(guide).__qualname__, guide.variant, side)
    if key not in _COUNTED:
        net = guide.counting_network()
        if net is None or side is None:
            _COUNTED[key] = None
        else:
            net = net.eval().requires_grad_(False)
            x = torch.zeros(1, 3, side, side, requires_grad=True)
            with FlopCounterMode(display=False) as counter:
                net(x).sum().backward()
            _COUNTED[key] = int(counter.get_total_flops())
    return _COUNTED[key]


def image_flops(config: dict[str, Any]) -> int | None:
    """The guide FLOPs of one image made from a run config as its PNG records it (what differs from
    the constructors' defaults); ``None`` when a guide's cost is not counted."""
    from dasag.image.augment import Augmentations
    from dasag.scorers.ensemble import ScorerEnsemble

    model = config.get("model") or {}
    steps = (config.get("trainer") or {}).get("max_steps")
    if steps is None or "scorer" not in model:
        return None
    scorer = _build(model["scorer"])
    guides = scorer.members if isinstance(scorer, ScorerEnsemble) else [scorer]
    per_copy = [_per_copy(g) for g in guides]
    if any(flops is None for flops in per_copy):
        return None
    augment = _build(model["augment"]) if "augment" in model else Augmentations()
    return int(steps) * augment.copies * sum(per_copy)


def _per_copy(guide: Scorer) -> int | None:
    """A guide's FLOPs per copy; with ``input_sizes`` (a side drawn per step) the expected count:
    the count at its input side scaled by the mean of side² over the range (convolutions' work
    grows with the pixel count)."""
    flops = guide_flops(guide)
    sizes = getattr(guide, "input_sizes", None)  # the classifiers' ascent-only input sides
    if flops is None or sizes is None:
        return flops
    lo, hi = sizes
    mean_square = sum(side * side for side in range(lo, hi + 1)) / (hi - lo + 1)
    return round(flops * mean_square / guide.input_size**2)
