"""The one small interface every frozen model implements.

A scorer turns a batch of images in [-1, 1] into per-image scores. Each scorer owns the
conversion to its own input (size, normalisation), so callers never guess it. Weights are
loaded lazily by :meth:`Scorer.load` (called from ``DirectAscent.setup``): constructing a
scorer only checks its arguments, so every configuration error is reported before any
model is read from disk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from dasag.core.prompts import mix
from dasag.image.resize import MODES, resize


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

@dataclass(frozen=True)
class Capabilities:
    """What a scorer gives, declared by its class and constructor arguments, never probed.

    ``classifier``: prompts are ImageNet class names and ``positive`` is a log-probability
    (unbounded, so no arctanh; top-1 and probability make sense); otherwise prompts are text
    and ``positive`` a cosine similarity. ``aesthetic``: every score carries an aesthetic-head
    value. ``embedding``: every score carries an L2-normalised image embedding (style and
    reference terms need one).
    """

    classifier: bool
    aesthetic: bool = False
    embedding: bool = True

    def with_aesthetic(self, aesthetic: bool) -> Capabilities:
        return replace(self, aesthetic=aesthetic)


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its pixels, stored with its weights: side, resampling, mean and std.

    Images in [-1, 1] become ``((x + 1) * pixel_scale - mean) / std`` after resizing to
    ``size``: ``pixel_scale`` 0.5 gives [0, 1] pixels (Hugging Face checkpoints), 127.5 gives
    [0, 255] ones (the EfficientNet-Lite weights: mean 127, std 128). One record for every
    scorer, so no caller guesses a model's input.
    """

    size: int
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    mode: str = "bicubic"
    pixel_scale: float = 0.5
    #: Low-pass filter when shrinking (PIL and the Hugging Face processors always filter;
    #: ``F.interpolate`` does not unless asked). Enlarging is never filtered.
    antialias: bool = True


def check_input_settings(input_size: int | None, interpolation: str | None, antialias: bool, minimum: int = 8) -> None:
    """One-sentence ``ValueError`` for a scorer's input settings, before any weights load."""
    if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < minimum):
        raise ValueError(f"scorer input_size must be an integer of at least {minimum} px, or null for the checkpoint's own; got {input_size!r}.")
    if interpolation is not None and interpolation not in MODES:
        raise ValueError(f"scorer interpolation must be one of {', '.join(MODES)}, or null for the checkpoint's own; got {interpolation!r}.")
    if not isinstance(antialias, bool):
        raise ValueError(f"scorer antialias must be true or false; got {antialias!r}.")


class Scorer(nn.Module, ABC):
    """A frozen discriminative model behind one interface.

    Subclasses implement :meth:`_load` (read weights, build the network), :meth:`_prepare`
    (turn prompts into cached targets: text embeddings or class indices) and
    :meth:`_score` (images already converted to the model's input -> :class:`Scores`).
    """

    #: Short name used in logs, metrics and metadata (e.g. ``"lite0"``, ``"siglip"``).
    name: str = "scorer"

    def __init__(
        self, capabilities: Capabilities, variant: str | None = None, input_size: int | None = None,
        interpolation: str | None = None, antialias: bool = True,
    ) -> None:
        """
        Args:
            capabilities: what this scorer gives (see :class:`Capabilities`).
            variant: which weights: a classifier variant or a checkpoint's name; with ``name``
                it identifies the embedding space (style embeddings are refused across spaces).
            input_size / interpolation / antialias: how images are resized to the model's input;
                ``None`` keeps what the weights declare (see :meth:`set_preprocessing`).
        """
        check_input_settings(input_size, interpolation, antialias)
        super().__init__()
        self.capabilities = capabilities
        self.variant = variant
        self.input_size_setting = input_size
        self.interpolation_setting = interpolation
        self.antialias_setting = antialias
        self.preprocessing: Preprocessing | None = None
        self._loaded = False
        self._prompts: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        #: Per side, the prompt weights normalised to sum 1, or ``None`` for the plain mean (see :meth:`reduce_prompts`).
        self._mix: dict[str, Tensor | None] = {"positive": None, "negative": None}
        self._mix_key: tuple = ((), ())

    @property
    def stochastic(self) -> bool:
        """Whether scores carry random noise (dropout), so the caller must seed each call; no by default."""
        return False

    @property
    def loaded(self) -> bool:
        """Whether the weights have been read (constructing a scorer reads nothing)."""
        return self._loaded

    # ----------------------------------------------------------------- life cycle
    def validate_prompts(self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True) -> None:
        """Check prompts cheaply, before any weights load; raise ``ValueError`` if bad.

        ``require_positive=False`` accepts an empty positive list (``positive`` is then zero):
        prompt-free generation driven by aesthetic, style or reference terms.
        """
        if not positive and require_positive:
            raise ValueError(
                f"scorer {self.name!r} needs at least one positive prompt; got an empty list "
                "(for prompt-free generation set model.objective.init_args.prompt_weight: 0)."
            )

    def load(self) -> Scorer:
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

    def train(self, mode: bool = True) -> Scorer:
        """A frozen scorer ignores ``train(True)``: dropout and batch-norm stay in eval mode."""
        return super().train(False)

    def prepare(
        self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True,
        positive_weights: Sequence[float] = (), negative_weights: Sequence[float] = (),
    ) -> None:
        """Cache the targets for a prompt set; a repeated call with the same prompts is free.

        ``positive_weights`` / ``negative_weights`` (one per prompt, or empty for all equal) make
        ``positive`` / ``negative`` the weighted mean over the prompts instead of the plain mean.
        """
        for side, prompts, weights in (("positive", positive, positive_weights), ("negative", negative, negative_weights)):
            if weights and len(weights) != len(prompts):
                raise ValueError(f"scorer {self.name!r}: {len(weights)} {side} weights for {len(prompts)} {side} prompts.")
        mix_key = (tuple(positive_weights), tuple(negative_weights))
        if mix_key != self._mix_key:
            self._mix = {side: None if (m := mix(w)) is None else torch.tensor(m) for side, w in zip(("positive", "negative"), mix_key)}
            self._mix_key = mix_key
        key = (tuple(positive), tuple(negative))
        if key == self._prompts:
            return
        self.validate_prompts(positive, negative, require_positive)
        self.load()
        with torch.no_grad():
            self._prepare(list(positive), list(negative))
        self._prompts = key

    def reduce_prompts(self, values: Tensor, side: str) -> Tensor:
        """Per-prompt values (N, P) -> (N,): the mean over the prompts, or their weighted mean when
        the prompts of ``side`` have weights that differ; zero with no prompts (an empty negative list)."""
        if values.shape[1] == 0:
            return values.new_zeros(values.shape[0])
        weights = self._mix[side]
        if weights is None:
            return values.mean(dim=1)
        if weights.device != values.device or weights.dtype != values.dtype:
            weights = self._mix[side] = weights.to(values)
        return values @ weights

    @property
    def prompts(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The prompt set the cached targets belong to (``None`` before :meth:`prepare`)."""
        return self._prompts

    def forward(self, images: Tensor) -> Scores:
        """Score images in [-1, 1], shape (N, 3, H, W), any H = W."""
        if self._prompts is None:
            raise RuntimeError(f"scorer {self.name!r}: call prepare(positive, negative) before scoring.")
        return self._score(images)

    # ------------------------------------------------------------ preprocessing
    def set_preprocessing(self, record: Preprocessing) -> None:
        """Adopt the input record read with the weights, with the scorer's own input settings
        (size, interpolation, antialias) in place of the weights' where given; mean and std
        become device buffers."""
        record = replace(
            record, size=self.input_size_setting or record.size, mode=self.interpolation_setting or record.mode, antialias=self.antialias_setting,
        )
        self.preprocessing = record
        self.register_buffer("pixel_mean", torch.tensor(record.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(record.std).view(1, 3, 1, 1), persistent=False)

    def _input_record(self) -> Preprocessing:
        if self.preprocessing is None:
            raise RuntimeError(f"scorer {self.name!r}: its input size is known once its weights are loaded.")
        return self.preprocessing

    @property
    def input_size(self) -> int:
        """Side of the square input the model reads (known once the weights are loaded)."""
        return self._input_record().size

    def resize_input(self, images: Tensor, side: int | None = None) -> Tensor:
        """[-1, 1] images resized to the model's input side (or ``side``), still in [-1, 1] units
        (what DAS-AG v2 measured its TV and L1 regularisers on)."""
        record = self._input_record()
        return resize(images, side or record.size, mode=record.mode, antialias=record.antialias)

    def preprocess(self, images: Tensor, side: int | None = None) -> Tensor:
        """[-1, 1] images -> the model's input: its size (or ``side``), resampling and normalisation."""
        record = self.preprocessing
        return ((self.resize_input(images, side) + 1) * record.pixel_scale - self.pixel_mean) / self.pixel_std

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

    def counting_network(self) -> nn.Module | None:
        """The network one copy runs through after :meth:`preprocess`, built anew with random weights
        (no weights read, the scorer left as it is): what a copy's cost is counted on
        (:mod:`dasag.quality.cost`), since the work does not depend on the weights. ``None`` (the
        default): this scorer's cost is not counted."""
        return None

    @property
    def device(self) -> torch.device:
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")


def score_key(member: str, field: str) -> str:
    """The one name of a scorer's value everywhere: ``<member>/<field>``."""
    return f"{member}/{field}"
