"""The spectrum term: power above a 1/f^exponent line costs, a natural-looking spectrum does not."""

from __future__ import annotations

import math

import pytest
import torch

from dasag.objective.base import StepContext
from dasag.objective.spectrum_term import SpectrumTerm, excess_power, ring_edges, ring_log_power
from dasag.scorers import EfficientNetLite, ScorerEnsemble


def _power_law_field(side: int, exponent: float, seed: int = 0) -> torch.Tensor:
    """(1, 3, side, side) random images whose power falls as 1/f^exponent, scaled into [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(side).abs()[:, None]
    fx = torch.fft.rfftfreq(side)[None, :]
    f = torch.sqrt(fy**2 + fx**2).clamp_min(1.0 / side)
    spectrum = torch.randn(3, side, side // 2 + 1, generator=g, dtype=torch.complex64) * f.pow(-exponent / 2)
    x = torch.fft.irfft2(spectrum, s=(side, side))
    return (x / x.abs().max())[None]


def test_rings_are_half_octaves_from_two_cycles_per_picture_to_nyquist() -> None:
    edges = ring_edges(192)
    assert edges[0] == pytest.approx(2 / 192) and edges[-1] == 0.5
    assert all(b / a == pytest.approx(math.sqrt(2)) for a, b in zip(edges[:-2], edges[1:-1]))
    logs, centres = ring_log_power(torch.rand(2, 3, 192, 192))
    assert logs.shape == (2, len(edges) - 1) and centres.shape == (len(edges) - 1,)


def test_only_power_above_the_line_costs() -> None:
    natural = _power_law_field(128, 2.0)
    assert excess_power(natural, 2.0).item() < 0.05  # on its own line (up to the random field's scatter)
    hatched = natural + 0.3 * torch.sign(torch.sin(torch.arange(128.0) * 2.5))[None, None, None, :]  # fine stripes
    assert excess_power(hatched, 2.0).item() > 20 * max(excess_power(natural, 2.0).item(), 0.01)
    smooth = _power_law_field(128, 4.0)  # smoother than the line: free
    assert excess_power(smooth, 2.0).item() < 0.01  # (the scatter of its two coarsest rings only)
    assert excess_power(natural, 3.0).item() > excess_power(natural, 2.0).item() + 0.5  # a steeper line allows less


def test_the_term_weights_its_value_pushes_power_down_and_refuses_bad_settings() -> None:
    images = (_power_law_field(64, 2.0) + 0.2 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))).requires_grad_()
    c = StepContext([], images, 0, 10, ScorerEnsemble([EfficientNetLite()]))  # the term reads only the picture
    term = SpectrumTerm(weight=2.0, exponent=2.0)
    part = term(c)
    assert part.loss.shape == (1,) and part.loss.item() == pytest.approx(2.0 * part.values["spectrum"].item())
    part.loss.sum().backward()
    stepped = (images - 0.05 * images.grad / images.grad.abs().max()).detach()
    assert excess_power(stepped, 2.0).item() < excess_power(images.detach(), 2.0).item()  # descent lowers the excess
    assert SpectrumTerm(weight=0.0)(c).loss is None
    with pytest.raises(ValueError, match="SpectrumTerm exponent must be a number from 0 to 6"):
        SpectrumTerm(exponent=9)
    with pytest.raises(ValueError, match="SpectrumTerm weight"):
        SpectrumTerm(weight=float("nan"))


def test_the_fine_scale_term_reads_the_benchmarks_share_and_only_the_excess_over_a_photograph_costs() -> None:
    import numpy as np

    from dasag.image.stats import fine_scale
    from dasag.objective.spectrum_term import FineScaleTerm, picture_fine_share

    smooth = _power_law_field(192, 4.0)
    hatched = (smooth + 0.3 * torch.sign(torch.sin(torch.arange(192.0) * 2.5))[None, None, None, :]).clamp(-1, 1)
    images = torch.cat([smooth, hatched]).requires_grad_()
    shares = picture_fine_share(images)
    for image, share in zip(images.detach(), shares.tolist()):  # the benchmark's measure, to the resampling filter's difference
        pixels = ((image.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        assert abs(share - fine_scale(np.asarray(pixels))) < 0.03
    assert shares[0] < 0.08 < 0.3 < shares[1]
    c = StepContext([], images, 0, 10, ScorerEnsemble([EfficientNetLite()]))
    part = FineScaleTerm(weight=5.0, target=0.08)(c)
    assert part.loss[0].item() == 0.0 and part.loss[1].item() == pytest.approx(5.0 * (shares[1].item() - 0.08), rel=1e-5)
    torch.testing.assert_close(part.values["fine_scale"], shares)
    part.loss.sum().backward()
    assert images.grad[0].abs().sum() == 0  # a calm picture is left alone
    stepped = (images - 0.05 * images.grad / images.grad.abs().max()).detach()
    assert picture_fine_share(stepped)[1] < shares[1]  # descent calms the busy one
    assert FineScaleTerm(weight=0.0)(c).loss is None
    with pytest.raises(ValueError, match=r"FineScaleTerm target must be a share from 0 to 1"):
        FineScaleTerm(target=1.5)
    with pytest.raises(ValueError, match="FineScaleTerm weight"):
        FineScaleTerm(weight=-1.0)
