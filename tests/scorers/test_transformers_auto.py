"""``hf:`` names: any transformers image-text model from its own files (SigLIP, SigLIP 2 NaFlex, CLIP),
embeddings equal to the model's own on the inputs its own processor makes, and one sentence for
whatever cannot load, before anything does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dasag.scorers import CLIP, SigLIP, TransformersImageText, registry
from dasag.scorers.transformers_auto import cached_dual_encoders
from dasag.scorers.weights import MissingWeightsError, WeightLocations, use_weight_locations


@pytest.fixture(scope="module")
def tiny_siglip2_dir(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_siglip2_naflex

    return build_tiny_siglip2_naflex(tmp_path_factory.mktemp("tiny_siglip2"))


@pytest.fixture
def offline():
    use_weight_locations(WeightLocations(offline=True))
    yield
    use_weight_locations(None)


def test_an_hf_name_is_the_generic_class_with_its_model(tiny_siglip_dir):
    entry = registry.get("hf:google/siglip2-so400m-patch14-384")
    assert entry.config() == {"class_path": "dasag.scorers.TransformersImageText", "init_args": {"model": "google/siglip2-so400m-patch14-384"}}
    assert entry.text and not entry.offline
    scorer = registry.build(f"hf:{tiny_siglip_dir}")
    assert isinstance(scorer, TransformersImageText) and not scorer.loaded and scorer.name == tiny_siglip_dir.name
    dotted = tiny_siglip_dir.parent / "siglip.v2"
    if not dotted.exists():
        dotted.symlink_to(tiny_siglip_dir)
    assert registry.build(f"hf:{dotted}").name == "siglip-v2"  # a dot would split the metric's module name
    for bad, words in (("hf:", "names no model after 'hf:'"), ("hf:my model", "has no spaces")):
        with pytest.raises(ValueError, match=words):
            registry.get(bad)


def test_a_hub_id_not_cached_offline_is_one_sentence_naming_the_download(offline):
    scorer = TransformersImageText("google/siglip2-so400m-patch14-384")
    with pytest.raises(MissingWeightsError, match=r"not in the local Hugging Face cache and the machine is offline: download it with "
                                                  r"`hf download google/siglip2-so400m-patch14-384 --local-dir DIR` and name the folder instead"):
        scorer.validate_prompts(["a cat"], [])


def test_a_checkpoint_without_two_towers_or_a_missing_folder_is_one_sentence(tmp_path, offline):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match=r"is a 'bert' checkpoint without both an image and a text tower"):
        TransformersImageText(str(tmp_path)).validate_prompts(["a cat"], [])
    with pytest.raises(MissingWeightsError, match=r"model folder '.*nowhere' does not exist or has no readable config.json"):
        TransformersImageText(str(tmp_path / "nowhere")).validate_prompts(["a cat"], [])


def test_siglip_through_hf_equals_the_siglip_scorer(tiny_siglip_dir):
    """SigLIP (v1) was trained on padded text without a mask: the text tower gets none, as the SigLIP scorer reads it."""
    generic = TransformersImageText(str(tiny_siglip_dir)).load()
    own = SigLIP(str(tiny_siglip_dir), aesthetic=False).load()
    assert generic.text_attention_mask is False and generic.preprocessing == own.preprocessing
    images = torch.rand(2, 3, 40, 40) * 2 - 1
    torch.testing.assert_close(generic.image_embedding(images), own.image_embedding(images))
    generic.prepare(["a photo of a goldfish"], ["blurred"])
    own.prepare(["a photo of a goldfish"], ["blurred"])
    a, b = generic(images), own(images)
    torch.testing.assert_close(a.positive, b.positive)
    torch.testing.assert_close(a.negative, b.negative)
    assert a.bounded and a.aesthetic is None
    masked = TransformersImageText(str(tiny_siglip_dir), text_attention_mask=True).load()
    masked.prepare(["a photo of a goldfish"], ["blurred"])
    assert masked.text_attention_mask and not torch.allclose(masked(images).positive, a.positive)  # the setting reaches the tower
    with pytest.raises(ValueError, match="text_attention_mask must be true, false or null"):
        TransformersImageText(str(tiny_siglip_dir), text_attention_mask="yes")


def test_clip_through_hf_equals_the_clip_scorer(tiny_clip_dir):
    generic = TransformersImageText(str(tiny_clip_dir)).load()
    own = CLIP(str(tiny_clip_dir), aesthetic=False).load()
    assert generic.text_attention_mask is True and generic.embedding_dim == own.embedding_dim
    images = torch.rand(2, 3, 40, 40) * 2 - 1
    torch.testing.assert_close(generic.image_embedding(images), own.image_embedding(images))
    generic.prepare(["a painting of a cat"], [])
    own.prepare(["a painting of a cat"], [])
    torch.testing.assert_close(generic(images).positive, own(images).positive)


def test_siglip2_naflex_equals_the_model_on_its_own_processors_inputs(tiny_siglip2_dir):
    """A picture at the grid's side needs no resize: our patches are the processor's, bit for bit, and so are
    the embeddings; the text goes through its own tokenizer (lower-cased, left-padded, with the mask)."""
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    from tiny_models import NAFLEX_MAX_PATCHES, NAFLEX_PATCH

    scorer = TransformersImageText(str(tiny_siglip2_dir)).load()
    side = int(NAFLEX_MAX_PATCHES**0.5) * NAFLEX_PATCH
    assert scorer.input_size == side and scorer.text_attention_mask is True
    pixels = (np.random.default_rng(0).random((side, side, 3)) * 255).round().astype(np.uint8)
    processed = AutoImageProcessor.from_pretrained(tiny_siglip2_dir)(images=[pixels], return_tensors="pt")
    image = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
    ours = scorer.naflex_inputs(scorer.preprocess(image))
    torch.testing.assert_close(ours["pixel_values"], processed["pixel_values"].float(), atol=1e-5, rtol=0)
    assert torch.equal(ours["pixel_attention_mask"], processed["pixel_attention_mask"].long())
    assert torch.equal(ours["spatial_shapes"], processed["spatial_shapes"].long())
    model = AutoModel.from_pretrained(tiny_siglip2_dir).eval()
    with torch.no_grad():
        expected = model.get_image_features(**processed).pooler_output
        tokens = AutoTokenizer.from_pretrained(tiny_siglip2_dir)(["A Photo of a Goldfish"], padding="max_length", max_length=16, return_tensors="pt")
        text = model.get_text_features(**tokens).pooler_output
    torch.testing.assert_close(scorer.image_embedding(image), torch.nn.functional.normalize(expected, dim=-1), atol=1e-5, rtol=1e-4)
    scorer.prepare(["a photo of a goldfish"], [])  # lower-cased by its tokenizer: the same embedding
    torch.testing.assert_close(scorer.positive_emb[0], torch.nn.functional.normalize(text, dim=-1)[0], atol=1e-5, rtol=1e-4)


def test_the_naflex_side_is_the_processors_and_the_fallback_rule_agrees():
    import math

    from dasag.scorers.transformers_auto import naflex_side

    for patch, budget in ((16, 256), (16, 1024), (14, 729), (16, 300), (4, 16)):
        assert naflex_side(patch, budget) == math.isqrt(budget) * patch


def test_the_gradient_reaches_the_picture_at_any_size(tiny_siglip2_dir):
    scorer = TransformersImageText(str(tiny_siglip2_dir)).load()
    scorer.prepare(["a cat"], [])
    images = (torch.rand(2, 3, 50, 50) * 2 - 1).requires_grad_()
    scorer(images).positive.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_an_input_size_beyond_the_patch_budget_or_off_the_grid_is_one_sentence(tiny_siglip2_dir, tiny_siglip_dir):
    with pytest.raises(ValueError, match=r"gives 64 patches of 4 px but .* reads at most 16; allowed sizes: 4 to 19"):
        TransformersImageText(str(tiny_siglip2_dir), input_size=32).validate_prompts(["a cat"], [])
    with pytest.raises(ValueError, match=r"patch grid"):
        TransformersImageText(str(tiny_siglip_dir), input_size=64).validate_prompts(["a cat"], [])


def test_an_aesthetic_head_loads_where_its_width_fits(tiny_siglip_dir, tiny_v25_head, tmp_path):
    from tiny_models import build_tiny_v25_head

    scorer = TransformersImageText(str(tiny_siglip_dir), aesthetic_head=str(tiny_v25_head)).load()
    scorer.prepare(["a cat"], [])
    assert scorer.capabilities.aesthetic and scorer(torch.zeros(1, 3, 32, 32)).aesthetic.shape == (1,)
    wide = build_tiny_v25_head(tmp_path / "wide.pth", in_dim=48)
    with pytest.raises(ValueError, match=r"reads 48-dim embeddings but the model makes 32-dim ones"):
        TransformersImageText(str(tiny_siglip_dir), aesthetic_head=str(wide)).load()
    with pytest.raises(MissingWeightsError, match="does not exist"):
        TransformersImageText(str(tiny_siglip_dir), aesthetic_head=str(tmp_path / "none.pth")).validate_prompts(["a cat"], [])


def test_the_cached_image_text_checkpoints_are_listed_and_nothing_else(tmp_path, monkeypatch, tiny_siglip_dir):
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    for repo, config in (("org/dual", {"model_type": "siglip", "vision_config": {}, "text_config": {}}), ("org/text-only", {"model_type": "bert"})):
        snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc"
        snapshot.mkdir(parents=True)
        (snapshot / "config.json").write_text(json.dumps(config))
        (cache / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
        (cache / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text("abc")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert cached_dual_encoders(["org/dual", "org/text-only", "org/absent"]) == ["hf:org/dual"]
