"""CLIP (+ the LAION aesthetic head) through the real loading path, on a tiny random checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dasag.scorers import CLIP
from dasag.scorers.weights import MissingWeightsError, load_state_dict
from feature_helpers import NEGATIVE, PROMPT, random_images


def test_clip_with_laion_head(tiny_weights_env, tiny_clip_dir: Path, tiny_laion_head: Path) -> None:
    from transformers import CLIPModel

    scorer = CLIP()
    scorer.prepare([PROMPT], [NEGATIVE])
    assert isinstance(scorer.model, CLIPModel) and scorer.model_location == str(tiny_clip_dir)
    assert scorer.preprocessing.mean[0] == pytest.approx(0.48145466)  # read from the checkpoint
    x = random_images().requires_grad_(True)
    s = scorer(x)
    state = load_state_dict(tiny_laion_head)
    ref = s.embedding.detach()
    for i in (0, 2, 4, 6, 7):
        ref = ref @ state[f"layers.{i}.weight"].T + state[f"layers.{i}.bias"]
    torch.testing.assert_close(s.aesthetic.detach(), ref.squeeze(-1))
    s.aesthetic.sum().backward()
    assert x.grad.abs().sum() > 0
    assert torch.equal(scorer(x.detach()).aesthetic, scorer(x.detach()).aesthetic)


def test_clip_missing_weights_name_their_variables(tiny_weights_env, tmp_path) -> None:
    with pytest.raises(MissingWeightsError, match="CLIP_MODEL_PATH"):
        CLIP(model=str(tmp_path / "nothing")).validate_prompts([PROMPT], [])
    with pytest.raises(MissingWeightsError, match="CLIP_AESTHETIC_PREDICTOR_PATH"):
        CLIP(aesthetic_head=str(tmp_path / "nothing.pth")).validate_prompts([PROMPT], [])
