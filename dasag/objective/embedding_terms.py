"""Extra objective terms that pull the image embedding towards a target embedding.

* :class:`StyleTerm`: a personal aesthetic embedding from a file (Aesthetic Gradients,
  VisuNex), made by ``dasag personalize``.
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

from dasag.core.files import user_file
from dasag.core.schedules import Schedule, as_schedule
from dasag.image.picture import load_images
from dasag.objective.base import Contribution, StepContext, Term
from dasag.scorers.base import Scorer
from dasag.scorers.embeddings import EMBED_SIZE, StyleEmbedding, image_embeddings, load_style_embedding, mean_embedding
from dasag.scorers.ensemble import ScorerEnsemble

#: Image files a reference folder may hold.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def list_images(location: str | Path) -> list[Path]:
    """One image file, or every image file in a folder (sorted, so runs are reproducible)."""
    path = user_file(location)
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
        self._target: Tensor | None = None

    def member_of(self, scorer: ScorerEnsemble) -> Scorer:
        """The ensemble member that gives the embedding; refuses an index or a scorer that cannot."""
        n = len(scorer.members)
        if self.member >= n:
            raise ValueError(f"{self.name} term member must index the ensemble's {n} scorer(s) (0..{n - 1}); got {self.member}.")
        chosen = scorer.members[self.member]
        if not chosen.capabilities.embedding:
            raise ValueError(f"{self.name} term needs a scorer that gives image embeddings; member {self.member} ({chosen.name}) gives none.")
        return chosen

    def check(self, scorer: ScorerEnsemble) -> None:
        self.member_of(scorer)

    def weight_at(self, step: int, total_steps: int) -> float:
        return self.weight(step, total_steps)

    def target(self, ctx: StepContext, device: torch.device) -> Tensor:
        """The normalised target (D,) on ``device``; subclasses provide it."""
        raise NotImplementedError

    def __call__(self, ctx: StepContext) -> Contribution:
        embedding = ctx.members[self.member].scores.embedding.float()
        similarity = ctx.per_image(embedding @ self.target(ctx, embedding.device))
        value = -ctx.weight_of(self) * similarity
        return Contribution(value, {self.name: value})


class StyleTerm(EmbeddingTerm):
    """Pulls the image towards a stored aesthetic embedding (``dasag.personalize`` output)."""

    name = "style"

    def __init__(self, embedding: str, weight: Schedule | float = 1.0, member: int = 0) -> None:
        """
        Args:
            embedding: ``.pt`` file written by ``dasag personalize`` (or a bare 1x768
                CLIP ViT-L/14 tensor, for the CLIP scorer).
            weight: λ_style(t), a number or a schedule.
            member: which scorer of an ensemble gives the embedding.
        """
        super().__init__(weight, member)
        self.path = embedding
        self.style: StyleEmbedding = load_style_embedding(embedding)

    def check(self, scorer: ScorerEnsemble) -> None:
        self.style.check_scorer(self.member_of(scorer))

    def target(self, ctx: StepContext, device: torch.device) -> Tensor:
        if self._target is None or self._target.device != device:
            self.style.check_dim(ctx.members[self.member].scores.embedding.shape[-1])
            self._target = torch.nn.functional.normalize(self.style.vector, dim=0).to(device)
        return self._target

    def __repr__(self) -> str:
        return f"StyleTerm(embedding={self.path!r}, weight={self.weight}, member={self.member})"


class ReferenceImageTerm(EmbeddingTerm):
    """Pulls the image towards the embedding of reference image(s): style transfer as in DAS."""

    name = "reference"

    def __init__(self, image: str, weight: Schedule | float = 1.0, member: int = 0, size: int = EMBED_SIZE) -> None:
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
        self.images = load_images(self.files, size)  # every unreadable file named, before any model loads

    def target(self, ctx: StepContext, device: torch.device) -> Tensor:
        if self._target is None or self._target.device != device:
            # The run's own scorer (already prepared) embeds the references once, lazily.
            with torch.no_grad():
                ref = image_embeddings(self.member_of(ctx.scorer), self.images)
            self._target = torch.nn.functional.normalize(mean_embedding(ref), dim=0).to(device)
        return self._target

    def __repr__(self) -> str:
        return f"ReferenceImageTerm(image={self.path!r}, weight={self.weight}, member={self.member})"


class ImagePromptTerm(ReferenceImageTerm):
    """An image prompt (``image:PATH:weight`` among the prompts, :mod:`dasag.core.prompts`): the reference
    term of one picture, made from the prompt list rather than the objective's config. It logs the
    similarity itself (``image_prompt/<i>``), which reads like a prompt's agreement; a negative
    weight pushes the image away from the picture."""

    def __init__(self, image: str, weight: float = 1.0, index: int = 0) -> None:
        super().__init__(image, weight)
        self.name = f"image_prompt/{index}"

    def __call__(self, ctx: StepContext) -> Contribution:
        embedding = ctx.members[self.member].scores.embedding.float()
        similarity = ctx.per_image(embedding @ self.target(ctx, embedding.device))
        return Contribution(-ctx.weight_of(self) * similarity, {self.name: similarity})

    def __repr__(self) -> str:
        return f"ImagePromptTerm(image={self.path!r}, weight={self.weight}, name={self.name!r})"
