"""``dasag personalize``: a personal aesthetic embedding from a folder of images."""

from __future__ import annotations

from pathlib import Path

import torch

from dasag import DirectAscent, ImagePyramid, Objective
from dasag.commands.personalize import main as personalize_main
from dasag.image.picture import load_image
from dasag.objective.embedding_terms import StyleTerm
from dasag.scorers.embeddings import ScorerIdentity, load_style_embedding
from feature_helpers import SMALL, lite0, write_config, write_images


# --------------------------------------------------------------- personalize
def test_personalize_round_trip(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "style")
    out = tmp_path / "out" / "style.pt"
    assert personalize_main(["--images", str(folder), "--out", str(out), "--config", str(write_config(tmp_path / "c.yaml"))]) == 0
    style = load_style_embedding(out)
    assert style.scorer == ScorerIdentity("lite0", "lite0", 1280)
    assert style.num_images == 3 and style.vector.shape == (1280,)
    # The stored vector is the mean of the L2-normalised features of the same images.
    scorer = lite0()
    images = torch.stack([load_image(p, 256) for p in sorted(folder.glob("*.png"))])
    expected = scorer.features(images).mean(dim=0)
    torch.testing.assert_close(style.vector, expected, atol=1e-5, rtol=1e-5)
    # ... and it loads into a run with the same scorer.
    DirectAscent(ImagePyramid(**SMALL), lite0(), objective=Objective(terms=[StyleTerm(str(out))]))


def test_personalize_bad_arguments_leave_nothing(tmp_path: Path, capsys) -> None:
    config = str(write_config(tmp_path / "c.yaml"))
    out = tmp_path / "style.pt"
    assert personalize_main(["--images", str(tmp_path / "missing"), "--out", str(out), "--config", config]) == 2
    assert "missing" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert personalize_main(["--images", str(tmp_path / "empty"), "--out", str(out), "--config", config]) == 2
    assert "holds no images" in capsys.readouterr().err
    assert personalize_main(["--images", str(write_images(tmp_path / "s")), "--out", str(tmp_path / "style.txt"), "--config", config]) == 2
    assert ".pt" in capsys.readouterr().err
    assert list(tmp_path.glob("*.pt")) == [] and list(tmp_path.glob(".*.tmp")) == []
