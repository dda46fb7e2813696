"""Make a personal aesthetic embedding from a folder of images.

    dasag personalize --images DIR --out style.pt --config style

The embedding is the mean of the L2-normalised image embeddings of the config's scorer
(``model.scorer``; a member of an ensemble with ``--member``), as in Aesthetic Gradients.
It is written with the scorer's identity so a run with another scorer refuses it. Every
argument is checked before the scorer loads, and the file is written atomically, so a bad
call leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dasag.core.config import config_file, load_config
from dasag.core.files import check_writable
from dasag.image.picture import load_images
from dasag.objective.embedding_terms import list_images
from dasag.scorers.base import Scorer
from dasag.scorers.embeddings import EMBED_SIZE, StyleEmbedding, image_embeddings, mean_embedding, scorer_identity
from dasag.scorers.ensemble import ScorerEnsemble


def scorer_spec(config_path: str | Path) -> dict[str, Any]:
    """``model.scorer`` of a run config (``base:`` files merged), as its YAML mapping."""
    config = load_config(config_file(config_path))
    spec = (config.get("model") or {}).get("scorer")
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise ValueError(f"config {str(config_path)!r} has no model.scorer with a class_path; it must name the scorer to embed with.")
    return spec


def build_scorer(spec: dict[str, Any], member: int = 0) -> Scorer:
    """Instantiate the scorer a config names (no weights load yet); pick ``member`` of an ensemble."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--scorer", type=Scorer | ScorerEnsemble)
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    scorer = instantiate(parser.parse_object({"scorer": spec})).scorer
    if isinstance(scorer, ScorerEnsemble):
        n = len(scorer.members)
        if not 0 <= member < n:
            raise ValueError(f"--member must index the ensemble's {n} scorer(s) (0..{n - 1}); got {member}.")
        return scorer.members[member]
    if member != 0:
        raise ValueError(f"--member applies to an ensemble scorer only; the config's scorer is a single {scorer.name!r}.")
    return scorer


def check_output(path: Path) -> None:
    """A ``.pt`` file whose folder exists or can be created; checked without writing."""
    if path.suffix != ".pt":
        raise ValueError(f"--out must be a .pt file; got {str(path)!r}.")
    if path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a folder; give a file name ending in .pt.")
    check_writable(path.absolute().parent, "the folder of --out")


def personalize(images: str | Path, out: str | Path, config: str | Path, member: int = 0, size: int = EMBED_SIZE) -> StyleEmbedding:
    """Embed every image in ``images`` with the config's scorer and save the mean to ``out``."""
    out = Path(out)
    check_output(out)
    files = list_images(images)
    if size < 32:
        raise ValueError(f"--size must be at least 32 px; got {size}.")
    scorer = build_scorer(scorer_spec(config), member)
    pixels = load_images(files, size)  # every unreadable image named, before the model loads
    scorer.prepare((), (), require_positive=False)  # embedding images needs no prompt
    embeddings = image_embeddings(scorer, pixels)
    style = StyleEmbedding(
        vector=mean_embedding(embeddings),
        scorer=scorer_identity(scorer, embedding_dim=embeddings.shape[-1]),
        num_images=len(files),
        source=str(out),
    )
    style.save(out)
    return style
