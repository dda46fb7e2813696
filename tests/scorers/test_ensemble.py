"""A weighted ensemble scores the same batch with each member on its own terms."""

from __future__ import annotations

import pytest
import torch

from dasag.scorers import EfficientNetLite, ScorerEnsemble, SigLIP


def images(n: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def test_ensemble_of_siglip_and_lite0_with_weights(tiny_weights_env) -> None:
    ensemble = ScorerEnsemble([SigLIP(), EfficientNetLite("lite0")], weights=[1.0, 0.25])
    ensemble.prepare(["goldfish"], [])
    x = images().requires_grad_(True)
    (w_sig, s_sig), (w_lite, s_lite) = ensemble(x)
    assert (w_sig, w_lite) == (1.0, 0.25) and ensemble.names == ["siglip", "lite0"]
    assert s_sig.bounded and s_sig.aesthetic is not None
    assert not s_lite.bounded and s_lite.aesthetic is None and (s_lite.positive < 0).all()  # log-probabilities
    (-(w_sig * s_sig.positive + w_lite * s_lite.positive)).sum().backward()
    assert x.grad.abs().sum() > 0


def test_member_names_are_unique_and_weights_checked() -> None:
    assert ScorerEnsemble([EfficientNetLite("lite0"), EfficientNetLite("lite0")]).names == ["lite0", "lite0_1"]
    with pytest.raises(ValueError, match="2 scorers, 1 weights"):
        ScorerEnsemble([EfficientNetLite("lite0"), EfficientNetLite("lite1")], weights=[1.0])
    with pytest.raises(ValueError, match="non-negative"):
        ScorerEnsemble([EfficientNetLite("lite0")], weights=[-1.0])
