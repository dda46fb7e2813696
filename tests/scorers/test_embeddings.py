"""Style embeddings keep the identity of the scorer that made them and load without unpickling code."""

from __future__ import annotations

import pytest
import torch

from dasag.scorers import CLIP, EfficientNetLite
from dasag.scorers.embeddings import ScorerIdentity, StyleEmbedding, load_style_embedding, mean_embedding, scorer_identity


def test_save_and_load_round_trip_atomically(tmp_path):
    style = StyleEmbedding(torch.randn(1280), ScorerIdentity("lite0", "lite0", 1280), num_images=4)
    path = style.save(tmp_path / "deep" / "style.pt")
    loaded = load_style_embedding(path)
    assert torch.equal(loaded.vector, style.vector) and loaded.scorer == style.scorer and loaded.num_images == 4
    assert [p.name for p in path.parent.iterdir()] == ["style.pt"]  # no temp file left


def test_identity_comes_from_the_scorers_declared_name_and_variant(tmp_path):
    assert scorer_identity(EfficientNetLite("lite2")) == ScorerIdentity("lite2", "lite2")
    assert scorer_identity(CLIP(model=str(tmp_path / "clip-vit-large-patch14"), aesthetic=False), 768).variant == "clip-vit-large-patch14"


def test_a_bare_tensor_is_a_clip_embedding_and_other_payloads_are_refused(tmp_path):
    torch.save(torch.randn(1, 768), tmp_path / "legacy.pt")
    assert load_style_embedding(tmp_path / "legacy.pt").scorer == ScorerIdentity("clip", None, 768)
    torch.save(torch.randn(2, 768), tmp_path / "two.pt")
    with pytest.raises(ValueError, match=r"shape \(2, 768\); allowed: \(D,\) or \(1, D\)"):
        load_style_embedding(tmp_path / "two.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="is not a readable torch file"):
        load_style_embedding(tmp_path / "junk.pt")


def test_mean_embedding_normalises_each_row_first():
    rows = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
    torch.testing.assert_close(mean_embedding(rows), torch.tensor([0.5, 0.5]))
