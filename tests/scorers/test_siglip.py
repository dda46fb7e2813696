"""SigLIP (+ the Aesthetic Predictor V2.5 head) through the real loading path, on a tiny random checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from dasag.scorers import SigLIP
from dasag.scorers.base import Capabilities
from dasag.scorers.weights import load_state_dict
from feature_helpers import random_images


def test_siglip_loads_checkpoint_through_from_pretrained(siglip: SigLIP, tiny_siglip_dir: Path) -> None:
    from transformers import SiglipModel

    assert siglip.model_location == str(tiny_siglip_dir)  # default came from SIGLIP_MODEL_PATH
    assert isinstance(siglip.model, SiglipModel)
    assert siglip.input_size == siglip.model.config.vision_config.image_size == 32
    assert siglip.preprocessing.mean == (0.5, 0.5, 0.5) and siglip.preprocessing.mode == "bicubic"
    assert siglip.capabilities == Capabilities(classifier=False, aesthetic=True, embedding=True)
    assert siglip.variant == tiny_siglip_dir.name
    assert siglip.attention == "sdpa" and siglip.model.config._attn_implementation == "sdpa"
    assert next(siglip.model.parameters()).dtype == torch.float32  # dtype=auto on CPU
    assert siglip.head is not None and siglip.head.in_features == 32
    assert not any(p.requires_grad for p in siglip.parameters())
    scores = siglip(random_images())
    assert scores.bounded and scores.positive.shape == scores.negative.shape == scores.aesthetic.shape == (2,)
    assert torch.allclose(scores.embedding.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert (scores.positive.abs() <= 1).all() and (scores.negative != 0).all()


def test_head_has_no_dropout_and_repeats_its_score(siglip: SigLIP, tiny_v25_head: Path) -> None:
    siglip.train(True)  # a frozen scorer must ignore this
    siglip.head.train(True)
    x = random_images()
    first, second = siglip(x).aesthetic, siglip(x).aesthetic
    assert torch.equal(first, second)
    assert not siglip.head.training and not any(isinstance(m, torch.nn.Dropout) for m in siglip.modules())
    # The head is exactly the upstream layer chain (keys scoring_head.0,2,4,6,8), applied to the embedding.
    state = load_state_dict(tiny_v25_head)
    x_emb = siglip(x).embedding
    ref = x_emb
    for i in (0, 2, 4, 6, 8):
        ref = ref @ state[f"scoring_head.{i}.weight"].T + state[f"scoring_head.{i}.bias"]
    torch.testing.assert_close(first, ref.squeeze(-1))


def test_gradients_reach_the_input_image_only(siglip: SigLIP) -> None:
    x = random_images().requires_grad_(True)
    s = siglip(x)
    (-(s.positive - s.negative) - s.aesthetic / 10).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in siglip.parameters())


def test_alias_variable_for_the_head(tiny_weights_env, monkeypatch, tiny_v25_head) -> None:
    monkeypatch.delenv("AESTHETIC_PREDICTOR_MODEL_PATH")
    monkeypatch.setenv("AESTHETIC_PREDICTOR_PATH", str(tiny_v25_head))
    assert SigLIP().aesthetic_head_location == str(tiny_v25_head)
