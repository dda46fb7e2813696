"""Style and reference-image terms: refused with the wrong scorer, pull towards their target."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from dasag import Augmentations, DirectAscent, ImagePyramid, Objective
from dasag.image.picture import load_image
from dasag.objective.base import StepContext
from dasag.objective.embedding_terms import ReferenceImageTerm, StyleTerm
from dasag.scorers import CLIP, EfficientNetLite
from dasag.scorers.embeddings import ScorerIdentity, StyleEmbedding
from feature_helpers import SMALL, lite0, run, write_images


def test_mismatched_embeddings_are_refused_before_weights_load(tmp_path: Path) -> None:
    path = StyleEmbedding(torch.randn(1280), ScorerIdentity("lite0", "lite0", 1280)).save(tmp_path / "lite0.pt")
    other = EfficientNetLite(variant="lite2")
    with pytest.raises(ValueError, match=r"made with scorer lite0.*scorer is lite2"):
        DirectAscent(ImagePyramid(**SMALL), other, objective=Objective(terms=[StyleTerm(str(path))]))
    assert other.net is None  # refused before any weights were read
    # The original Aesthetic Gradients format, a bare 1x768 tensor, is a CLIP ViT-L/14 embedding.
    legacy = tmp_path / "sac_8plus.pt"
    torch.save(torch.randn(1, 768), legacy)
    with pytest.raises(ValueError, match="made with scorer clip"):
        DirectAscent(ImagePyramid(**SMALL), lite0(), objective=Objective(terms=[StyleTerm(str(legacy))]))
    clip = CLIP(model=str(tmp_path / "clip-vit-large-patch14"), aesthetic=False)  # constructing reads nothing
    term = StyleTerm(str(legacy))
    DirectAscent(ImagePyramid(**SMALL), clip, objective=Objective(terms=[term]))  # accepted by the CLIP scorer
    term.style.check_dim(768)
    with pytest.raises(ValueError, match="768-d .* gives 512-d"):
        term.style.check_dim(512)  # e.g. a ViT-B/32 CLIP
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="allowed"):
        StyleTerm(str(bad))


# ---------------------------------------------------------------- style term
@pytest.mark.slow
def test_style_term_raises_similarity_prompt_free(tmp_path: Path) -> None:
    scorer = lite0()
    images = torch.stack([load_image(p, 64) for p in sorted(write_images(tmp_path / "s", 4, seed=1).glob("*.png"))])
    target = torch.nn.functional.normalize(scorer.features(images).mean(0), dim=0)
    path = StyleEmbedding(target, ScorerIdentity("lite0", "lite0", 1280)).save(tmp_path / "style.pt")

    def similarity(model: DirectAscent) -> float:
        return float(scorer.features(model.images()) @ target)

    L.seed_everything(0)
    model = DirectAscent(ImagePyramid(**SMALL), scorer, augment=Augmentations(batch_size=2),
                         objective=Objective(prompt_weight=0.0, terms=[StyleTerm(str(path), weight=10.0)]), seed=0)
    before = similarity(model)
    run(model, 12, positive=[], root=tmp_path)  # no prompt at all: the style term drives the run
    after = similarity(model)
    assert after > before + 0.05, (before, after)


def test_reference_image_term_targets_the_reference_embedding(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "ref", 2, seed=3)
    term = ReferenceImageTerm(str(folder), weight=1.0)
    model = DirectAscent(ImagePyramid(**SMALL), lite0(), objective=Objective(prompt_weight=0.0, terms=[term]))
    model.scorer.prepare((), (), require_positive=False)
    expected = torch.nn.functional.normalize(model.scorer.members[0].features(term.images).mean(0), dim=0)
    ctx = StepContext(model.score(model.images()), model.images(), 0, 1, model.scorer)
    torch.testing.assert_close(term.target(ctx, expected.device), expected, atol=1e-5, rtol=1e-5)
    # the term's value is -weight * cosine(image embedding, target), averaged over copies
    contribution = term(ctx)
    cosine = model.scorer.members[0].features(model.images()) @ expected
    torch.testing.assert_close(contribution.loss, -cosine, atol=1e-5, rtol=1e-5)
    with pytest.raises(FileNotFoundError, match="neither an image file nor a folder"):
        ReferenceImageTerm(str(tmp_path / "nope.png"))
