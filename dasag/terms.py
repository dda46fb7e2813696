"""Extra objective terms that pull the image embedding towards a target embedding.

* :class:`StyleTerm`: a personal aesthetic embedding from a file (Aesthetic Gradients,
  VisuNex), made by ``python -m dasag.personalize``.
* :class:`ReferenceImageTerm`: the embedding of one or more reference images, computed by
  the run's own scorer (DAS's style transfer towards a reference image).

Both add ``-weight(t) * cos(e(x), target)`` per image, averaged over the augmented copies,
so the similarity is pushed up through the same augmentations that make DAS images robust.
Used alone (``prompt_weight: 0``) they drive prompt-free generation.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from dasag.embeddings import StyleEmbedding, image_embeddings, load_style_embedding, mean_embedding
from dasag.images import load_image
from dasag.objective import Term
from dasag.schedules import Schedule, as_schedule
from dasag.scorers.base import Scorer, Scores
from dasag.scorers.ensemble import ScorerEnsemble

#: Image files a reference folder may hold.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def list_images(location: str | Path) -> list[Path]:
    """One image file, or every image file in a folder (sorted, so runs are reproducible)."""
    path = Path(location)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"image path {str(path)!r} is neither an image file nor a folder.")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"folder {str(path)!r} holds no images; allowed suffixes: {', '.join(IMAGE_SUFFIXES)}.")
    return files


class EmbeddingTerm(Term):
    """``-weight(t) * cosine(image embedding, target)`` for one ensemble member."""

    name = "embedding"

    def __init__(self, weight: Schedule | float = 1.0, member: int = 0) -> None:
        if member < 0:
            raise ValueError(f"{self.name} term member must be a non-negative ensemble index; got {member}.")
        self.weight = as_schedule(weight)
        self.member = member
        self._scorer: Scorer | None = None
        self._target: Tensor | None = None
        #: Mean similarity per image at the last call (detached), for tests and logging.
        self.last_similarity: Tensor | None = None

    def bind(self, scorer: ScorerEnsemble) -> None:
        n = len(scorer.members)
        if self.member >= n:
            raise ValueError(f"{self.name} term member must index the ensemble's {n} scorer(s) (0..{n - 1}); got {self.member}.")
        self._scorer = scorer.members[self.member]

    def target(self, embedding: Tensor) -> Tensor:
        """The normalised target (D,) on ``embedding``'s device; subclasses provide it."""
        raise NotImplementedError

    def similarity(self, scores: Scores, num_images: int) -> Tensor:
        """Mean cosine similarity to the target per image, (num_images,)."""
        if scores.embedding is None:
            raise ValueError(f"{self.name} term needs a scorer that gives image embeddings; member {self.member} gives none.")
        emb = scores.embedding.float()
        return (emb @ self.target(emb)).view(num_images, -1).mean(dim=1)

    def __call__(self, members: list[tuple[float, Scores]], images: Tensor, num_images: int, step: int, total_steps: int) -> Tensor:
        sim = self.similarity(members[self.member][1], num_images)
        self.last_similarity = sim.detach()
        return -self.weight(step, total_steps) * sim


class StyleTerm(EmbeddingTerm):
    """Pulls the image towards a stored aesthetic embedding (``dasag.personalize`` output)."""

    name = "style"

    def __init__(self, embedding: str, weight: Schedule | float = 1.0, member: int = 0) -> None:
        """
        Args:
            embedding: ``.pt`` file written by ``python -m dasag.personalize`` (or a bare 1x768
                CLIP ViT-L/14 tensor, for the CLIP scorer).
            weight: λ_style(t), a number or a schedule.
            member: which scorer of an ensemble gives the embedding.
        """
        super().__init__(weight, member)
        self.path = embedding
        self.style: StyleEmbedding = load_style_embedding(embedding)

    def bind(self, scorer: ScorerEnsemble) -> None:
        super().bind(scorer)
        self.style.check_scorer(self._scorer)

    def target(self, embedding: Tensor) -> Tensor:
        if self._target is None or self._target.device != embedding.device:
            self.style.check_dim(embedding.shape[-1])
            self._target = torch.nn.functional.normalize(self.style.vector, dim=0).to(embedding.device)
        return self._target

    def __repr__(self) -> str:
        return f"StyleTerm(embedding={self.path!r}, weight={self.weight}, member={self.member})"


class ReferenceImageTerm(EmbeddingTerm):
    """Pulls the image towards the embedding of reference image(s): style transfer as in DAS."""

    name = "reference"

    def __init__(self, image: str, weight: Schedule | float = 1.0, member: int = 0, size: int = 256) -> None:
        """
        Args:
            image: a reference image file, or a folder of them (their mean embedding is the target).
            weight: λ_ref(t), a number or a schedule.
            member: which scorer of an ensemble gives the embedding.
            size: side the references are centre-cropped and resized to before the scorer's own resize.
        """
        super().__init__(weight, member)
        if size < 32:
            raise ValueError(f"reference term size must be at least 32 px; got {size}.")
        self.path = image
        self.files = list_images(image)  # missing or empty: fails here, before any model loads
        self.images = torch.stack([load_image(f, size) for f in self.files])

    def target(self, embedding: Tensor) -> Tensor:
        if self._target is None or self._target.device != embedding.device:
            # The run's own scorer (already prepared) embeds the references once, lazily.
            assert self._scorer is not None, "ReferenceImageTerm.bind(scorer) must run before the first step"
            with torch.no_grad():
                ref = image_embeddings(self._scorer, self.images)
            self._target = torch.nn.functional.normalize(mean_embedding(ref), dim=0).to(embedding.device)
        return self._target

    def __repr__(self) -> str:
        return f"ReferenceImageTerm(image={self.path!r}, weight={self.weight}, member={self.member})"
