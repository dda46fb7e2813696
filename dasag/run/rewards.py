"""Rewards that need no gradient, for choosing among candidate images.

A reward maps images (K, 3, V, V) in [-1, 1] to K numbers, higher is better, computed
without autograd. It may be anything: a file size (JPEG compressibility, SVDD's example of
a reward with no gradient at all), an aesthetic score, or the probability given by a
classifier that did not guide the image. Rewards are plugged in from YAML (``class_path``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Literal

import torch
from PIL import Image
from torch import Tensor

from dasag.image.picture import to_uint8
from dasag.run.data import PromptSet
from dasag.scorers.base import Scorer


class Reward:
    """Base class: ``reward(images) -> (K,)`` float tensor on the CPU, higher is better."""

    #: Key of the reward in logs.
    name: str = "reward"

    def setup(self, prompts: PromptSet, device: torch.device) -> None:
        """Called once before the first use with the run's prompts and device."""

    def __call__(self, images: Tensor) -> Tensor:
        raise NotImplementedError


def jpeg_kilobytes(image: Tensor, quality: int = 95) -> float:
    """Size in kB (1000 bytes) of one (3, H, W) image in [-1, 1] saved as JPEG."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buf, format="JPEG", quality=quality)
    return buf.tell() / 1000.0


class JpegCompressibility(Reward):
    """``-kB`` of the JPEG file at ``quality``: smaller files (flatter, simpler images) win."""

    name = "jpeg_compressibility"

    def __init__(self, quality: int = 95) -> None:
        """
        Args:
            quality: JPEG quality, 1..95 (SVDD's compressibility reward uses 95).
        """
        if not 1 <= quality <= 95:
            raise ValueError(f"JpegCompressibility quality must be in 1..95; got {quality}.")
        self.quality = quality

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        return torch.tensor([-jpeg_kilobytes(x, self.quality) for x in images], dtype=torch.float64)

    def __repr__(self) -> str:
        return f"JpegCompressibility(quality={self.quality})"


class ScorerReward(Reward):
    """A field of any scorer's output: prompt agreement, class probability or aesthetic score.

    With a different model than the one that guided the image (e.g. EfficientNet-Lite2 while
    Lite0 guides), the reward measures what transfers rather than what fools the guide.
    """

    name = "scorer"

    def __init__(
        self,
        scorer: Scorer,
        field: Literal["positive", "probability", "aesthetic"] = "probability",
        prompts: Sequence[str] | None = None,
    ) -> None:
        """
        Args:
            scorer: the frozen model that scores candidates (loaded on first use).
            field: ``positive`` (prompt agreement), ``probability`` (``exp`` of a classifier's
                log-probability of the target classes) or ``aesthetic`` (the aesthetic head's score).
            prompts: the positive prompts (class names for classifiers); default: the run's.
        """
        if field not in ("positive", "probability", "aesthetic"):
            raise ValueError(f"ScorerReward field must be one of positive, probability, aesthetic; got {field!r}.")
        if field == "probability" and not (scorer.capabilities.classifier and scorer.score == "log_prob"):
            raise ValueError(f"ScorerReward field 'probability' needs a classifier scorer with score: log_prob; got scorer {scorer.name!r}.")
        if field == "aesthetic" and not scorer.capabilities.aesthetic:
            raise ValueError(f"ScorerReward field 'aesthetic' needs a scorer with an aesthetic head; scorer {scorer.name!r} has none.")
        self.scorer = scorer
        self.field = field
        self.prompts = None if prompts is None else tuple(str(p) for p in prompts)
        if self.prompts is not None:
            scorer.validate_prompts(self.prompts, ())  # cheap, before any weights load
        self.name = f"{scorer.name}_{field}"

    def setup(self, prompts: PromptSet, device: torch.device) -> None:
        positive = self.prompts if self.prompts is not None else prompts.positive
        self.scorer.prepare(positive, (), require_positive=self.field != "aesthetic")  # an aesthetic score needs no prompt
        self.scorer.to(device)

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        scores = self.scorer(images.to(self.scorer.device))
        if self.field == "aesthetic":
            value = scores.aesthetic
        elif self.field == "probability":
            value = scores.positive.exp()
        else:
            value = scores.positive
        return value.detach().double().cpu()

    def __repr__(self) -> str:
        return f"ScorerReward(scorer={self.scorer.name!r}, field={self.field!r}, prompts={self.prompts})"
