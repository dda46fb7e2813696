"""Aesthetic MLP heads that read an L2-normalised image embedding and return a ~1..10 score.

Both heads DAS-AG uses are a plain chain of ``nn.Linear`` layers with dropout in between
and no activation (widths ``D -> 1024 -> 128 -> 64 -> 16 -> 1``):

* Aesthetic Predictor V2.5 (SigLIP so400m, ``D = 1152``): state-dict keys
  ``scoring_head.{0,2,4,6,8}.{weight,bias}``;
* LAION improved aesthetic predictor ``sac+logos+ava1-l14-linearMSE`` (CLIP ViT-L/14,
  ``D = 768``): keys ``layers.{0,2,4,6,7}.{weight,bias}``.

Dropout only matters in training, and these heads are never trained here, so by default
there is none: a score is a deterministic function of the embedding whatever mode a caller
puts the module in. The seed code left dropout active while optimising and evaluating; the
compatibility mode reproduces that with explicit ``dropout`` rates, applied at every call
(the module seeds each step's masks, so a run stays a function of its seed). The layer
widths are read from the state dict, so the same class loads either head, and tiny test heads, without copying the upstream code (the V2.5 code is AGPL-3.0).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from dasag.scorers.weights import MissingWeightsError, load_state_dict

_KEY = re.compile(r"^(?:.*\.)?(\d+)\.(weight|bias)$")


class AestheticHead(nn.Module):
    """A chain of linear layers (no activation; dropout only when given rates), always in eval mode."""

    def __init__(self, widths: list[int], dropout: Sequence[float] = ()) -> None:
        """
        Args:
            widths: layer widths from input to output, e.g. ``[1152, 1024, 128, 64, 16, 1]``.
            dropout: rates applied after the first ``len(dropout)`` layers at every call (none
                by default); at most one per hidden layer.
        """
        super().__init__()
        if len(widths) < 2 or widths[-1] != 1:
            raise ValueError(f"an aesthetic head needs at least one layer and a single output; got widths {widths}.")
        if len(dropout) > len(widths) - 2:
            raise ValueError(f"aesthetic_dropout has {len(dropout)} rates but this head has only {len(widths) - 2} hidden layers to follow.")
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.dropout = tuple(float(p) for p in dropout)
        self.eval()

    @property
    def stochastic(self) -> bool:
        """Whether scores carry dropout noise (the compatibility mode's head)."""
        return any(p > 0 for p in self.dropout)

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    def train(self, mode: bool = True) -> AestheticHead:
        """Frozen: stays in eval mode."""
        return super().train(False)

    def forward(self, embedding: Tensor) -> Tensor:
        """(N, D) L2-normalised embeddings -> (N,) scores, computed in the head's dtype."""
        x = embedding.to(self.layers[0].weight.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.dropout) and self.dropout[i] > 0:
                x = torch.nn.functional.dropout(x, self.dropout[i], training=True)
        return x.squeeze(-1)

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor], source: str = "state dict", dropout: Sequence[float] = ()) -> AestheticHead:
        """Build the head whose linear layers the state dict describes, in key-index order."""
        layers: dict[int, dict[str, Tensor]] = {}
        for key, value in state.items():
            if key in ("weight", "bias"):  # a single linear layer saved bare (LAION's linear heads, e.g. for ViT-B/32)
                layers.setdefault(0, {})[key] = value
                continue
            match = _KEY.match(key)
            if match is None:
                raise ValueError(f"{source}: unexpected key {key!r} in an aesthetic head (expected '<prefix>.<index>.weight|bias', or a bare weight and bias).")
            layers.setdefault(int(match.group(1)), {})[match.group(2)] = value
        ordered = [layers[i] for i in sorted(layers)]
        if not ordered or any(set(p) != {"weight", "bias"} or p["weight"].dim() != 2 for p in ordered):
            raise ValueError(f"{source}: an aesthetic head must be linear layers, each with a 2-D weight and a bias.")
        widths = [ordered[0]["weight"].shape[1]] + [p["weight"].shape[0] for p in ordered]
        for p, (a, b) in zip(ordered, zip(widths[:-1], widths[1:])):
            if tuple(p["weight"].shape) != (b, a):
                raise ValueError(f"{source}: layer widths do not chain: {[tuple(q['weight'].shape) for q in ordered]}.")
        head = cls(widths, dropout)
        with torch.no_grad():
            for layer, p in zip(head.layers, ordered):
                layer.weight.copy_(p["weight"])
                layer.bias.copy_(p["bias"])
        return head


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def cached_url_file(url: str) -> Path:
    """Where ``torch.hub`` keeps a downloaded checkpoint, so an offline check can look there first."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def check_head_available(location: str, variable: str, offline: bool) -> None:
    """Cheap check, before any weights load: raise :class:`MissingWeightsError` naming ``variable``."""
    if is_url(location):
        if offline and not cached_url_file(location).is_file():
            raise MissingWeightsError(
                f"the aesthetic head {Path(location).name!r} is not available offline: download it from {location} "
                f"and set {variable} (or the scorer's aesthetic_head key) to the local file."
            )
        return
    if not Path(location).expanduser().is_file():
        raise MissingWeightsError(
            f"aesthetic head file {location!r} does not exist: set {variable} (or the scorer's aesthetic_head key) "
            f"to a local .pth file, downloaded from its upstream release."
        )


def load_aesthetic_head(location: str, in_features: int, variable: str, dropout: Sequence[float] = ()) -> AestheticHead:
    """Load a head from a local ``.pth``/``.pt``/``.safetensors`` or a URL, and check its input width."""
    if is_url(location):
        try:
            state = torch.hub.load_state_dict_from_url(location, map_location="cpu", weights_only=True, progress=False)
        except Exception as e:  # network errors come in many types; the message is what matters
            raise MissingWeightsError(
                f"could not download the aesthetic head from {location} ({e}); download it by hand and set {variable} "
                f"(or the scorer's aesthetic_head key) to the local file."
            ) from e
    else:
        state = load_state_dict(Path(location).expanduser())
    head = AestheticHead.from_state_dict(state, source=location, dropout=dropout)
    if head.in_features != in_features:
        raise ValueError(
            f"aesthetic head {location!r} reads {head.in_features}-dim embeddings but the model makes {in_features}-dim ones; "
            f"check that {variable} matches the model."
        )
    return head
