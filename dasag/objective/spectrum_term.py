"""A natural image's spectrum as a soft constraint: penalise power above the 1/f² line, or a fine-scale share above a photograph's.

Photographs have a power spectrum that falls as about 1/f² with spatial frequency f (Field,
JOSA A 1987; van der Schaaf and van Hateren, 1996); the fine, high-contrast hatching a
classifier guide grows in every background carries far more power at high frequencies than
that. MACO (Fel et al., NeurIPS 2023) removes the excess by construction: it optimises only
the phase of a picture whose magnitude spectrum is a natural image's. The pyramid cannot be
reparametrised that way without giving up what makes it transfer (its levels are coarse-to-fine
pixels, not a spectrum), so this term is the soft form of the same idea, on the clean picture:

* the picture's power (per channel, mean removed) is averaged within half-octave rings of
  frequency, from 2 cycles per picture up to the Nyquist frequency;
* ``d_b = log P_b + 2 log f_b`` is flat across rings for a 1/f² spectrum; the picture's own two
  coarsest rings set the level (without a gradient, so the term cannot lower it by flattening
  the large shapes);
* the loss is the mean over rings of ``max(0, d_b - level)²``: only power above a natural
  spectrum costs anything, and a picture smoother than a photograph costs nothing.

:class:`FineScaleTerm` is the same idea in the benchmark's own units: the picture's fine-scale share
(:func:`dasag.image.stats.fine_share`, the ``look/fine_scale`` of the transfer report), and only
the part of it above a photograph's share costs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dasag.core.ranges import TERM_WEIGHT
from dasag.image.resize import resize
from dasag.image.stats import FINE_SCALE_SIDE, LUMA, fine_share
from dasag.objective.base import Contribution, StepContext, Term

#: Rings per octave of frequency (half-octave rings).
RINGS_PER_OCTAVE = 2
#: The coarsest ring starts at this many cycles per picture.
LOWEST_CYCLES = 2.0
#: How many of the coarsest rings set the picture's level.
LEVEL_RINGS = 2


def ring_edges(side: int) -> list[float]:
    """Ring edges in cycles per pixel, from ``LOWEST_CYCLES / side`` up to 0.5 (Nyquist)."""
    low = LOWEST_CYCLES / side
    count = max(int(math.floor(RINGS_PER_OCTAVE * math.log2(0.5 / low))), LEVEL_RINGS + 1)
    return [low * 2 ** (k / RINGS_PER_OCTAVE) for k in range(count)] + [0.5]


def ring_log_power(images: Tensor) -> tuple[Tensor, Tensor]:
    """(N, C, H, W) -> per image and ring, ``log`` of the mean power (N, R), and each ring's
    geometric centre frequency in cycles per pixel (R,)."""
    x = images.float()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    h, w = x.shape[-2:]
    power = torch.fft.rfft2(x, norm="ortho").abs().pow(2).mean(dim=1)  # (N, H, W//2+1)
    fy = torch.fft.fftfreq(h, device=x.device).abs()[:, None]
    fx = torch.fft.rfftfreq(w, device=x.device)[None, :]
    radius = torch.sqrt(fy**2 + fx**2)
    edges = ring_edges(min(h, w))
    logs, centres = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (radius >= lo) & (radius < hi)
        logs.append(torch.log(power[:, mask].mean(dim=1) + 1e-12))
        centres.append(math.sqrt(lo * hi))
    return torch.stack(logs, dim=1), torch.tensor(centres, device=x.device)


def excess_power(images: Tensor, exponent: float = 2.0) -> Tensor:
    """(N, C, H, W) -> (N,): mean over rings of the squared log-power above the picture's own
    1/f^exponent line."""
    logs, centres = ring_log_power(images)
    flat = logs + exponent * torch.log(centres)  # constant across rings for a 1/f^exponent spectrum
    level = flat[:, :LEVEL_RINGS].mean(dim=1, keepdim=True).detach()
    return torch.relu(flat - level).pow(2).mean(dim=1)


class SpectrumTerm(Term):
    """``λ · excess_power(picture)``: the clean visible picture's power above a 1/f² spectrum (see the module)."""

    name = "spectrum"

    def __init__(self, weight: float = 1.0, exponent: float = 2.0) -> None:
        """
        Args:
            weight: λ, in units of the squared natural log of a power ratio (a ring with e times
                the allowed power costs λ divided by the number of rings).
            exponent: the allowed spectrum falls as 1/f^exponent: 2 is the textbook natural
                image; photographs after a camera's and a resize's blur fall faster (the shipped
                portrait, at 192 px: about 3).
        """
        TERM_WEIGHT.check(weight, "SpectrumTerm weight")
        if not 0 <= exponent <= 6:
            raise ValueError(f"SpectrumTerm exponent must be a number from 0 to 6 (the falloff of power with frequency); got {exponent!r}.")
        self.weight = weight
        self.exponent = float(exponent)

    def __call__(self, ctx: StepContext) -> Contribution:
        if not self.weight:
            return Contribution(None)
        value = excess_power(ctx.images, self.exponent)
        return Contribution(self.weight * value, {self.name: value})

    def __repr__(self) -> str:
        return f"SpectrumTerm(weight={self.weight}, exponent={self.exponent})"


def picture_fine_share(images: Tensor) -> Tensor:
    """(N, 3, V, V) in [-1, 1] -> (N,): each picture's fine-scale share as the benchmark measures it
    (grey level, resized to 256 px bicubic, :func:`dasag.image.stats.fine_share`), differentiably."""
    luma = torch.tensor(LUMA, dtype=torch.float32, device=images.device)
    grey = torch.einsum("c,nchw->nhw", luma, (images.float() + 1) / 2)
    return fine_share(resize(grey[:, None], FINE_SCALE_SIDE, "bicubic", use_matmul=True)[:, 0])


class FineScaleTerm(Term):
    """``λ · max(0, share - target)``: the clean picture's fine-scale share above a photograph's (see the module)."""

    name = "fine_scale"

    def __init__(self, weight: float = 10.0, target: float = 0.08) -> None:
        """
        Args:
            weight: λ per unit of share; the prompt term it competes with is a logit or log-probability
                (a logit of a Lite guide rises to 20-40 over a run).
            target: the share that costs nothing: 0.08 is the top of the photographs of objects in a
                scene (``dasag/image/stats.py``); the recipe's pictures read about 0.15.
        """
        TERM_WEIGHT.check(weight, "FineScaleTerm weight")
        if not 0 <= target <= 1:
            raise ValueError(f"FineScaleTerm target must be a share from 0 to 1 (photographs of objects: 0.05-0.08); got {target!r}.")
        self.weight = weight
        self.target = float(target)

    def __call__(self, ctx: StepContext) -> Contribution:
        if not self.weight:
            return Contribution(None)
        share = picture_fine_share(ctx.images)
        return Contribution(self.weight * torch.relu(share - self.target), {self.name: share})

    def __repr__(self) -> str:
        return f"FineScaleTerm(weight={self.weight}, target={self.target})"
