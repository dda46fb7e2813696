"""Aesthetic (style) embeddings, stored with the identity of the scorer that made them.

An aesthetic embedding (Aesthetic Gradients, VisuNex) is the mean of the L2-normalised image
embeddings of a set of images. It only means something in the embedding space of the model
that produced it: a 1280-d EfficientNet feature and a 768-d CLIP ViT-L/14 embedding are not
comparable, and neither are two CLIPs of the same width. So a file written here carries the
scorer's name, variant and embedding width, and a run whose scorer differs refuses it.

Two formats load:

* ours: a dict ``{"format": "dasag.style/1", "embedding": (1, D), "scorer": {...}, ...}``;
* the original Aesthetic Gradients / VisuNex ``.pt`` files (``sac_8plus.pt``, ...): a bare
  ``1 x 768`` tensor made with OpenAI CLIP ViT-L/14. They carry no identity, so they are
  taken as CLIP embeddings of width 768 and load with the CLIP scorer only.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dasag.core.files import user_file, write_bytes_atomic
from dasag.scorers.base import Scorer

FORMAT = "dasag.style/1"
#: Side (px) that images are centre-cropped and resized to before a scorer embeds them (style
#: sets, reference images); the scorer then resizes to its own input.
EMBED_SIZE = 256
#: What a bare-tensor file (the original Aesthetic Gradients format) is taken to be.
LEGACY_CLIP_DIM = 768


@dataclass(frozen=True)
class ScorerIdentity:
    """Which embedding space a vector lives in.

    ``variant`` is the classifier variant (``lite0``) or the checkpoint's name (the last
    component of a hub id or directory, e.g. ``clip-vit-large-patch14``); ``None`` means
    unknown (legacy files), and is then not compared.
    """

    name: str
    variant: str | None
    embedding_dim: int | None = None

    def describe(self) -> str:
        parts = [self.name] + ([self.variant] if self.variant and self.variant != self.name else [])
        dim = f", {self.embedding_dim}-d" if self.embedding_dim else ""
        return "/".join(parts) + dim


def scorer_identity(scorer: Scorer, embedding_dim: int | None = None) -> ScorerIdentity:
    """The identity of a (possibly not yet loaded) scorer, from its constructor arguments."""
    return ScorerIdentity(name=scorer.name, variant=scorer.variant, embedding_dim=embedding_dim)


@dataclass(frozen=True)
class StyleEmbedding:
    """A mean image embedding (D,) with the identity of the scorer that made it."""

    vector: Tensor
    scorer: ScorerIdentity
    num_images: int | None = None
    source: str = "<memory>"

    def check_scorer(self, scorer: Scorer) -> None:
        """Refuse a scorer other than the one this embedding was made with (before it loads)."""
        own, theirs = self.scorer, scorer_identity(scorer)
        same_variant = own.variant is None or theirs.variant is None or own.variant == theirs.variant
        if own.name != theirs.name or not same_variant:
            raise ValueError(
                f"style embedding {self.source!r} was made with scorer {own.describe()}, but the run's scorer is "
                f"{theirs.describe()}; an embedding only fits the model that made it: make it again with "
                f"`dasag personalize --images DIR --out FILE.pt --config CONFIG` for this scorer."
            )

    def check_dim(self, dim: int) -> None:
        """Refuse an image embedding of another width (known only once the scorer has loaded)."""
        if dim != self.vector.numel():
            raise ValueError(
                f"style embedding {self.source!r} is {self.vector.numel()}-d ({self.scorer.describe()}), but the "
                f"run's scorer gives {dim}-d image embeddings; use an embedding made with this scorer."
            )

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (temp file + rename): a failed write leaves no partial file."""
        payload = {
            "format": FORMAT,
            "embedding": self.vector.detach().float().cpu().reshape(1, -1).clone(),
            "scorer": asdict(self.scorer),
            "num_images": self.num_images,
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return write_bytes_atomic(path, buffer.getvalue())


def _from_payload(payload: Any, source: str) -> StyleEmbedding:
    if isinstance(payload, Tensor):
        # The original Aesthetic Gradients format: a bare 1 x 768 CLIP ViT-L/14 tensor.
        if payload.dim() not in (1, 2) or (payload.dim() == 2 and payload.shape[0] != 1):
            raise ValueError(f"style embedding {source!r} is a tensor of shape {tuple(payload.shape)}; allowed: (D,) or (1, D).")
        vector = payload.reshape(-1).float()
        return StyleEmbedding(vector, ScorerIdentity("clip", None, vector.numel()), None, source)
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        ident = payload.get("scorer") or {}
        try:
            identity = ScorerIdentity(str(ident["name"]), ident.get("variant"), ident.get("embedding_dim"))
        except KeyError:
            raise ValueError(f"style embedding {source!r} has no scorer name in its 'scorer' entry.") from None
        vector = torch.as_tensor(payload["embedding"]).reshape(-1).float()
        return StyleEmbedding(vector, identity, payload.get("num_images"), source)
    kind = type(payload).__name__ if not isinstance(payload, dict) else f"dict with format {payload.get('format')!r}"
    raise ValueError(f"style embedding {source!r} holds a {kind}; allowed: a {FORMAT!r} dict written by dasag.personalize, or a bare (1, D) tensor.")


def load_style_embedding(path: str | os.PathLike) -> StyleEmbedding:
    """Read a ``.pt`` style embedding (ours, or a bare 1 x 768 CLIP tensor); never unpickles code."""
    path = user_file(path)
    if not path.is_file():
        raise FileNotFoundError(f"style embedding file {str(path)!r} does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-sentence error
        raise ValueError(f"style embedding {str(path)!r} is not a readable torch file ({type(e).__name__}).") from None
    return _from_payload(payload, str(path))


def mean_embedding(embeddings: Tensor) -> Tensor:
    """The aesthetic embedding of a set: the mean of the rows after L2-normalising each."""
    return torch.nn.functional.normalize(embeddings.float(), dim=-1).mean(dim=0)


@torch.no_grad()
def image_embeddings(scorer: Scorer, images: Tensor, batch_size: int = 16) -> Tensor:
    """L2-normalised embeddings (N, D) of images in [-1, 1] by a prepared scorer, in batches."""
    rows = []
    for start in range(0, images.shape[0], batch_size):
        scores = scorer(images[start : start + batch_size].to(scorer.device))
        if scores.embedding is None:
            raise ValueError(f"scorer {scorer.name!r} gives no image embedding, so it cannot make or use a style embedding.")
        rows.append(scores.embedding.float())
    return torch.cat(rows)
