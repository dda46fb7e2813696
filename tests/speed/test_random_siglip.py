"""The random-weight SigLIP has the so400m shapes and behaves like a loaded scorer."""

from __future__ import annotations

import torch

from dasag.scorers.base import Capabilities
from dasag.speed.random_siglip import VISION_SIZES, RandomSigLIP, siglip_config


def test_so400m_shapes_are_those_of_the_published_checkpoint():
    config = siglip_config(VISION_SIZES["so400m"])
    assert (config.vision_config.hidden_size, config.vision_config.num_hidden_layers, config.vision_config.image_size) == (1152, 27, 384)
    assert config.text_config.hidden_size == 1152  # the similarities need matching widths


def test_tiny_random_siglip_scores_with_an_aesthetic_head_and_needs_no_files():
    scorer = RandomSigLIP(size="tiny", attn_implementation="eager", dtype="fp32")
    assert scorer.capabilities == Capabilities(classifier=False, aesthetic=True)
    scorer.prepare(["a photo of a goldfish"], [])
    s = scorer(torch.rand(2, 3, 48, 48) * 2 - 1)
    assert scorer.input_size == 32 and s.aesthetic.shape == (2,) and s.positive.abs().max() <= 1
    again = RandomSigLIP(size="tiny", attn_implementation="eager", dtype="fp32")
    again.prepare(["a photo of a goldfish"], [])
    assert torch.equal(again.positive_emb, scorer.positive_emb)  # prompt embeddings are a function of the text
