"""The one small interface every frozen model implements.

A scorer turns a batch of images in [-1, 1] into per-image scores. Each scorer owns the
conversion to its own input (size, normalisation), so callers never guess it. Weights are
loaded lazily by :meth:`Scorer.load` (called from ``DirectAscent.setup``): constructing a
scorer only checks its arguments, so every configuration error is reported before any
model is read from disk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Sequence

import torch
from torch import Tensor, nn


@dataclass
class Scores:
    """Per-image scores for N images; every tensor has N rows.

    ``positive`` / ``negative`` measure agreement with the positive / negative prompts:
    mean cosine similarity for text-image models (``bounded=True``, values in [-1, 1],
    so an arctanh mapping may apply) and mean log-probability of the target classes for
    classifiers (``bounded=False``). ``negative`` is zero when there are no negative
    prompts. ``aesthetic`` is the aesthetic head's score (about 1..10) where the scorer
    has one; ``embedding`` is the L2-normalised image embedding where it has one.
    """

    positive: Tensor
    negative: Tensor
    bounded: bool
    aesthetic: Tensor | None = None
    embedding: Tensor | None = None

    def detach(self) -> "Scores":
        """The same scores cut from the graph (for logging and export)."""
        values = {}
        for f in fields(self):
            v = getattr(self, f.name)
            values[f.name] = v.detach() if isinstance(v, Tensor) else v
        return Scores(**values)


class Scorer(nn.Module, ABC):
    """A frozen discriminative model behind one interface.

    Subclasses implement :meth:`_load` (read weights, build the network), :meth:`_prepare`
    (turn prompts into cached targets: text embeddings or class indices) and
    :meth:`_score` (images already converted to the model's input -> :class:`Scores`).
    """

    #: Side of the square input the model expects, in pixels.
    input_size: int = 224
    #: Short name used in logs and metadata (e.g. ``"lite0"``, ``"siglip"``).
    name: str = "scorer"
    #: ``False`` accepts an empty positive prompt list (``positive`` is then zero): prompt-free
    #: generation driven by aesthetic or style terms. ``DirectAscent`` clears it when the
    #: objective's ``prompt_weight`` is 0, so nobody has to set it by hand.
    require_positive: bool = True

    def __init__(self) -> None:
        super().__init__()
        self._loaded = False
        self._prompts: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    # ----------------------------------------------------------------- life cycle
    def validate_prompts(self, positive: Sequence[str], negative: Sequence[str]) -> None:
        """Check prompts cheaply, before any weights load; raise ``ValueError`` if bad."""
        if not positive and self.require_positive:
            raise ValueError(
                f"scorer {self.name!r} needs at least one positive prompt; got an empty list "
                "(for prompt-free generation set model.objective.init_args.prompt_weight: 0)."
            )

    def load(self) -> "Scorer":
        """Read the weights once, then freeze: eval mode, no parameter requires grad."""
        if not self._loaded:
            self._load()
            self._loaded = True
            self.freeze()
        return self

    def freeze(self) -> None:
        """Eval mode (dropout off) and ``requires_grad_(False)`` on every parameter."""
        self.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> "Scorer":
        """A frozen scorer ignores ``train(True)``: dropout and batch-norm stay in eval mode."""
        return super().train(False)

    def prepare(self, positive: Sequence[str], negative: Sequence[str]) -> None:
        """Cache the targets for a prompt set; a repeated call with the same prompts is free."""
        key = (tuple(positive), tuple(negative))
        if key == self._prompts:
            return
        self.validate_prompts(positive, negative)
        self.load()
        with torch.no_grad():
            self._prepare(list(positive), list(negative))
        self._prompts = key

    @property
    def prompts(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The prompt set the cached targets belong to (``None`` before :meth:`prepare`)."""
        return self._prompts

    def forward(self, images: Tensor) -> Scores:
        """Score images in [-1, 1], shape (N, 3, H, W), any H = W."""
        if self._prompts is None:
            raise RuntimeError(f"scorer {self.name!r}: call prepare(positive, negative) before scoring.")
        return self._score(images)

    # ---------------------------------------------------------- for subclasses
    @abstractmethod
    def _load(self) -> None:
        """Build the network and read its weights."""

    @abstractmethod
    def _prepare(self, positive: list[str], negative: list[str]) -> None:
        """Compute and cache prompt targets (as non-persistent buffers)."""

    @abstractmethod
    def _score(self, images: Tensor) -> Scores:
        """Images in [-1, 1] -> scores; must be differentiable with respect to ``images``."""

    @property
    def device(self) -> torch.device:
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")


def mean_similarity(embedding: Tensor, targets: Tensor) -> Tensor:
    """Mean cosine similarity of each row of ``embedding`` to the rows of ``targets``.

    Both are L2-normalised already; with no targets the result is zero, which is what the
    objective wants for an empty negative prompt list.
    """
    if targets.numel() == 0:
        return embedding.new_zeros(embedding.shape[0])
    return (embedding @ targets.to(embedding.dtype).T).mean(dim=1)
