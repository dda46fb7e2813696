"""SigLIP (+ the Aesthetic Predictor V2.5 head) through the real loading path, on a tiny random checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def _text_tower_inputs(scorer: SigLIP) -> list[dict]:
    """The keyword arguments of every text-tower call, seen through a forward hook."""
    calls: list[dict] = []
    scorer.model.text_model.register_forward_hook(lambda module, args, kwargs, out: calls.append(dict(kwargs)), with_kwargs=True)
    return calls


def test_text_attention_mask_is_a_setting(tiny_weights_env) -> None:
    """Off by default (SigLIP was trained without one); on, the tokenizer's mask reaches the tower, as in DAS-AG v2."""
    from feature_helpers import NEGATIVE, PROMPT

    embeddings = {}
    for setting in (False, True):
        scorer = SigLIP(aesthetic=False, text_attention_mask=setting).load()
        calls = _text_tower_inputs(scorer)
        scorer.prepare([PROMPT], [NEGATIVE])
        assert len(calls) == 1 and ("attention_mask" in calls[0]) is setting
        if setting:
            assert not calls[0]["attention_mask"].all()  # the short prompts are padded: the mask has zeros
        embeddings[setting] = scorer.positive_emb
    assert SigLIP(aesthetic=False).text_attention_mask is False
    # the mask changes what the tiny tower makes of a padded prompt
    assert (embeddings[True] - embeddings[False]).abs().max() > 1e-3


def test_a_tokenizer_without_a_mask_makes_the_setting_moot(tiny_weights_env, tiny_siglip_dir, tmp_path) -> None:
    """Hugging Face's SigLIP checkpoints save the tokenizer with model_input_names ['input_ids']: it
    returns no mask, so DAS-AG v2's ``**inputs`` gave the tower the ids alone, as our default does."""
    import json
    import shutil

    from feature_helpers import PROMPT

    checkpoint = shutil.copytree(tiny_siglip_dir, tmp_path / "ids_only")
    config_file = checkpoint / "tokenizer_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "model_input_names": ["input_ids"]}))
    embeddings = {}
    for setting in (False, True):
        scorer = SigLIP(model=str(checkpoint), aesthetic=False, text_attention_mask=setting).load()
        calls = _text_tower_inputs(scorer)
        scorer.prepare([PROMPT], [])
        assert list(calls[0]) == ["input_ids"]
        embeddings[setting] = scorer.positive_emb
    assert torch.equal(embeddings[True], embeddings[False])


def test_a_mask_under_flash_attention_is_one_warning(tiny_weights_env) -> None:
    """flash_attention_2 zeroes padded positions and SigLIP pools the last one: every short prompt would
    encode alike. flash-attn cannot run here, so the backend is named after loading: the check reads it."""
    import warnings

    from feature_helpers import NEGATIVE, PROMPT

    for setting in (True, False):
        scorer = SigLIP(aesthetic=False, text_attention_mask=setting).load()
        scorer.attention = "flash_attention_2"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scorer.prepare([PROMPT], [NEGATIVE])
        ours = [w for w in caught if "text_attention_mask" in str(w.message)]
        assert len(ours) == int(setting)
        if setting:
            assert "every prompt shorter than 16 tokens encodes to the same vector" in str(ours[0].message)


def test_text_attention_mask_must_be_a_bool(tiny_weights_env) -> None:
    with pytest.raises(ValueError, match=r"^text_attention_mask must be true or false; got 'yes'\.$"):
        SigLIP(text_attention_mask="yes")
